"""The default assistant's skills as text templates: one spoken question -> one spoken answer (+ tool call).

Skills: arithmetic, time and date (answered from a clock string in the text context, so nothing
is memorised), open-vocabulary repetition, timers (spoken confirmation plus a `timer.set` tool line),
small talk and identity, and an honest fallback for anything else.

Held-out material for the test split: every fifth phrasing of each list (`Phrasings.held_out`) and the
words of `held_out_words()` never occur in a training dialogue.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass

from engine.data.numbers import number_words, ordinal_words, year_words
from engine.data.vocabulary import WORDS, is_held_out

FALLBACK_ANSWER = "Sorry, I can't help with that yet."
SPLITS = ("train", "test")


@dataclass(frozen=True)
class Exchange:
    """One user question and the assistant's reply.

    Attributes:
        skill: skill name (a key of SKILLS).
        question: what the user says.
        answer: what the assistant says.
        tool: tool-call line written after `<tool>` on the monologue (e.g. `timer.set {"seconds": 300}`).
        phrasing: "skill/list/index" of the question template, for the held-out bookkeeping.
        word: the open-vocabulary word the exchange is about, if any.
    """

    skill: str
    question: str
    answer: str
    tool: str | None = None
    phrasing: str = ""
    word: str | None = None


CLOCK_STYLES = ("spoken", "digits")
CLOCK_STYLE = "spoken"  # how training data words the clock (dataset.json and trained engines record it)


@dataclass(frozen=True)
class Clock:
    """The wall-clock time put in a dialogue's text context."""

    when: dt.datetime

    def context(self, style: str = "spoken") -> str:
        """The context line in `style` (one of CLOCK_STYLES):

        * "spoken" (what `hark data synth` writes): the very words the answers speak, so that telling the
          time is copying a span of the context rather than turning digits into words: `current time: two
          oh five in the afternoon, Monday, the twenty third of November, twenty twenty six`;
        * "digits", what engines trained before it read: `current time: Monday 23 November 2026, 14:05`.
        """
        w = self.when
        if style == "digits":
            return f"current time: {w:%A} {w.day} {w:%B} {w.year}, {w:%H:%M}"
        if style == "spoken":
            return f"current time: {spoken_time(w)}, {spoken_date(w)}, {year_words(w.year)}"
        raise ValueError(f"unknown clock style {style!r}; expected one of {CLOCK_STYLES}")

    @staticmethod
    def random(rng: random.Random, split: str | None = None) -> Clock:
        """A uniformly random minute between 2024 and 2030; with a split, one of its clocks only (the test
        split's times of day and days of the year never occur in training, see `is_held_out_clock`)."""
        start = dt.datetime(2024, 1, 1)
        while True:
            clock = Clock(start + dt.timedelta(minutes=rng.randrange(7 * 365 * 24 * 60)))
            if split is None:
                return clock
            if (is_held_out_clock if split == "test" else is_training_clock)(clock.when):
                return clock


def _hashed_tenth(key: str) -> bool:
    """A stable pseudo-random tenth of all keys."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") % 10 == 0


def is_held_out_clock(when: dt.datetime) -> bool:
    """Test-split clocks: a held-out time of day and a held-out day of the year at once, so neither the
    time nor the date answer of a test clock is ever spoken in training; training clocks have neither."""
    held_time = _hashed_tenth(f"time/{when:%H:%M}")
    held_day = _hashed_tenth(f"day/{when:%m-%d}")
    return held_time and held_day


def is_training_clock(when: dt.datetime) -> bool:
    """Clocks a training dialogue may use: neither their time of day nor their day is held out."""
    return not _hashed_tenth(f"time/{when:%H:%M}") and not _hashed_tenth(f"day/{when:%m-%d}")


class Phrasings:
    """A named list of question templates; every fifth one is held out of training."""

    def __init__(self, name: str, templates: list[str]):
        self.name = name
        self.templates = templates

    def held_out(self, index: int) -> bool:
        """Whether template `index` is reserved for the test split."""
        return index % 5 == 4

    def pick(self, rng: random.Random, split: str) -> tuple[str, str]:
        """A template for `split` (test: a held-out one half of the time); returns (template, phrasing id)."""
        pool = [i for i in range(len(self.templates)) if not self.held_out(i)]
        if split == "test" and rng.random() < 0.5:
            pool = [i for i in range(len(self.templates)) if self.held_out(i)] or pool
        i = rng.choice(pool)
        return self.templates[i], f"{self.name}/{i}"


def _p(name: str, text: str) -> Phrasings:
    return Phrasings(name, [t.strip() for t in text.strip().split("\n")])


# --- arithmetic ---
_ARITH_ANY = _p(
    "arith",
    """
    what is {e}
    what's {e}
    how much is {e}
    {e}
    can you tell me what {e} is
    tell me {e}
    quick question, what is {e}
    do you know what {e} is
    calculate {e}
    what is {e} please
    please work out {e}
    hey, what's {e}
    what would {e} be
    so what is {e}
    could you compute {e}
    """,
)
_ARITH_OP = {
    "plus": _p(
        "plus",
        """
        add {a} and {b}
        what do you get if you add {a} and {b}
        what is the sum of {a} and {b}
        add {b} to {a}
        what is {a} and {b} together
        """,
    ),
    "minus": _p(
        "minus",
        """
        subtract {b} from {a}
        take {b} away from {a}
        what is {a} take away {b}
        what do you get if you subtract {b} from {a}
        what is {b} less than {a}
        """,
    ),
    "times": _p(
        "times",
        """
        multiply {a} by {b}
        what is {a} multiplied by {b}
        what is the product of {a} and {b}
        what do you get if you multiply {a} by {b}
        what is {a} lots of {b}
        """,
    ),
    "divided by": _p(
        "divided",
        """
        divide {a} by {b}
        how many times does {b} go into {a}
        what is {a} over {b}
        what do you get if you divide {a} by {b}
        what is {a} split {b} ways
        """,
    ),
}


MAX_OPERAND = 20
MAX_PRODUCT = 100


@functools.cache
def operand_table(op: str) -> tuple[tuple[int, int, int], ...]:
    """Every (a, b, result) asked about `op`: sums and differences of 0-20 (never negative), products and
    exact quotients of 0-20 up to a hundred."""
    n = range(MAX_OPERAND + 1)
    if op == "plus":
        return tuple((a, b, a + b) for a in n for b in n)
    if op == "minus":
        return tuple((a, b, a - b) for a in n for b in n if b <= a)
    if op == "times":
        return tuple((a, b, a * b) for a in n for b in n if a * b <= MAX_PRODUCT)
    if op == "divided by":
        return tuple((b * q, b, q) for b in n[1:] for q in n if b * q <= MAX_PRODUCT)
    raise ValueError(f"unknown operation {op!r}")


def is_held_out_pair(op: str, a: int, b: int) -> bool:
    """Test-split number pairs: a tenth of the sums and differences never occur in training, so the test
    asks the model to add and subtract, not to recall. Products and quotients form a table to learn by
    heart, as people do, so all of them occur in both splits."""
    return op in ("plus", "minus") and _hashed_tenth(f"{op}/{a}/{b}")


def _operands(rng: random.Random, op: str, split: str) -> tuple[int, int, int]:
    """(a, b, result) of `op` for `split` (test: a held-out pair where the operation has them)."""
    table = operand_table(op)
    held = [row for row in table if is_held_out_pair(op, row[0], row[1])]
    if split == "test" and held:
        return rng.choice(held)
    while True:
        row = rng.choice(table)
        if not is_held_out_pair(op, row[0], row[1]):
            return row


def arithmetic(rng: random.Random, split: str, clock: Clock) -> Exchange:
    """ "what is seventeen plus five" -> "Seventeen plus five is twenty two."."""
    op = rng.choice(list(_ARITH_OP))
    a, b, c = _operands(rng, op, split)
    wa, wb, wc = number_words(a), number_words(b), number_words(c)
    phrasings = _ARITH_ANY if rng.random() < 0.7 else _ARITH_OP[op]
    template, pid = phrasings.pick(rng, split)
    question = template.format(e=f"{wa} {op} {wb}", a=wa, b=wb)
    return Exchange("arithmetic", question, f"{wa.capitalize()} {op} {wb} is {wc}.", phrasing=pid)


# --- time and date ---
_TIME = _p(
    "time",
    """
    what time is it
    what's the time
    do you have the time
    can you tell me the time
    what is the time please
    what time is it now
    tell me the time
    what is the time right now
    do you know what time it is
    excuse me, what time is it
    what's the time now
    time please
    could you tell me what time it is
    what does the clock say
    have you got the time
    """,
)
_DATE = _p(
    "date",
    """
    what day is it
    what's the date today
    what is today's date
    which day is it today
    what's today
    can you tell me the date
    what date is it
    do you know what day it is
    what day of the week is it
    tell me today's date
    what is the date
    what's the date
    which date is it today
    remind me what day it is
    what day is it today
    """,
)
_YEAR = _p(
    "year",
    """
    what year is it
    which year is it
    what year are we in
    do you know what year it is
    tell me the year
    """,
)


def _period(hour: int) -> str:
    if 5 <= hour < 12:
        return "in the morning"
    if 12 <= hour < 18:
        return "in the afternoon"
    if 18 <= hour < 22:
        return "in the evening"
    return "at night"


def spoken_time(when: dt.datetime) -> str:
    """The time of day as said: 14:05 -> "two oh five in the afternoon"."""
    hour12 = number_words(when.hour % 12 or 12)
    if when.minute == 0:
        minutes = "o'clock"
    elif when.minute < 10:
        minutes = "oh " + number_words(when.minute)
    else:
        minutes = number_words(when.minute)
    return f"{hour12} {minutes} {_period(when.hour)}"


def spoken_date(when: dt.datetime) -> str:
    """The day as said: 2026-11-23 -> "Monday, the twenty third of November"."""
    return f"{when:%A}, the {ordinal_words(when.day)} of {when:%B}"


def time_of_day(rng: random.Random, split: str, clock: Clock) -> Exchange:
    """ "what time is it" -> the clock from the context, spoken."""
    template, pid = _TIME.pick(rng, split)
    return Exchange("time", template, f"It is {spoken_time(clock.when)}.", phrasing=pid)


def date(rng: random.Random, split: str, clock: Clock) -> Exchange:
    """ "what day is it" / "what year is it" -> the date from the context, spoken."""
    w = clock.when
    if rng.random() < 0.2:
        template, pid = _YEAR.pick(rng, split)
        return Exchange("date", template, f"It is {year_words(w.year)}.", phrasing=pid)
    template, pid = _DATE.pick(rng, split)
    return Exchange("date", template, f"Today is {spoken_date(w)}.", phrasing=pid)


# --- open vocabulary ---
_REPEAT = _p(
    "repeat",
    """
    repeat after me: {w}
    say the word {w}
    say {w}
    can you say {w}
    please say {w}
    say the word {w} please
    repeat the word {w}
    could you repeat {w}
    let me hear you say {w}
    I want you to say {w}
    repeat after me, {w}
    can you say the word {w}
    just say {w}
    please repeat {w}
    say this word: {w}
    """,
)


def repeat(rng: random.Random, split: str, clock: Clock) -> Exchange:
    """ "repeat after me: lantern" -> "Lantern."."""
    word = rng.choice(words_for(split))
    template, pid = _REPEAT.pick(rng, split)
    # Lower case, so the answer reuses the very pieces of the user transcript (no case mapping to learn).
    return Exchange("repeat", template.format(w=word), f"{word}.", phrasing=pid, word=word)


# --- timers ---
_TIMER = _p(
    "timer",
    """
    set a timer for {d}
    start a timer for {d}
    timer for {d}
    can you set a timer for {d}
    please set a timer for {d}
    I need a timer for {d}
    give me a timer for {d}
    remind me in {d}
    set a timer for {d} please
    count down {d}
    could you start a timer for {d}
    start a countdown for {d}
    let me know when {d} are up
    time {d} for me
    put a timer on for {d}
    """,
)


def _duration(rng: random.Random) -> tuple[str, int]:
    """A spoken duration and its length in seconds."""
    kind = rng.choices(["seconds", "minutes", "hours", "half"], weights=[3, 6, 1, 0.5])[0]
    if kind == "half":
        return "half an hour", 1800
    if kind == "seconds":
        n = rng.choice(range(10, 60, 5))
        return f"{number_words(n)} seconds", n
    n = rng.randint(1, 60) if kind == "minutes" else rng.randint(1, 4)
    unit = kind if n > 1 else kind[:-1]
    return f"{number_words(n)} {unit}", n * (60 if kind == "minutes" else 3600)


def timer(rng: random.Random, split: str, clock: Clock) -> Exchange:
    """ "set a timer for five minutes" -> confirmation + `timer.set {"seconds": 300}`."""
    spoken, seconds = _duration(rng)
    template, pid = _TIMER.pick(rng, split)
    tool = "timer.set " + json.dumps({"seconds": seconds})
    answer = f"Okay, a timer for {spoken}, starting now."
    return Exchange("timer", template.format(d=spoken), answer, tool=tool, phrasing=pid)


# --- small talk and identity ---
_SMALLTALK: dict[str, tuple[Phrasings, str]] = {
    "greet": (
        _p(
            "greet",
            """
            hello
            hi
            hi there
            hey
            hello there
            good morning
            good afternoon
            hey there
            good evening
            hey hello
            hiya
            hello hark
            hi hark
            morning
            hey hark
            """,
        ),
        "Hello! How can I help?",
    ),
    "identity": (
        _p(
            "identity",
            """
            who are you
            what are you
            what is your name
            what's your name
            who are you exactly
            are you a robot
            what should I call you
            who am I talking to
            introduce yourself
            what is your name please
            tell me about yourself
            what do I call you
            are you a computer
            who made you
            please introduce yourself
            """,
        ),
        "I am hark, a small voice assistant that runs on this computer.",
    ),
    "abilities": (
        _p(
            "abilities",
            """
            what can you do
            how can you help me
            what are you good at
            what do you know
            what else can you do
            what can you help me with
            help
            what are your skills
            what do you do
            what can you do for me
            how do you help
            what are you able to do
            can you help me
            what things can you do
            tell me what you can do
            """,
        ),
        "I can do sums, tell the time and the date, set timers, and repeat words.",
    ),
    "thanks": (
        _p(
            "thanks",
            """
            thank you
            thanks
            thanks a lot
            thank you very much
            thank you so much
            much appreciated
            great, thanks
            cheers
            thanks so much
            okay thank you
            many thanks
            thanks for that
            that's great, thank you
            perfect, thanks
            thanks very much
            """,
        ),
        "You're welcome.",
    ),
    "howareyou": (
        _p(
            "howareyou",
            """
            how are you
            how are you doing
            how's it going
            are you okay
            how are you today
            how do you feel
            how are things
            are you well
            how have you been
            how are you doing today
            are you doing okay
            how is it going
            how are you feeling
            are you alright
            and how are you
            """,
        ),
        "I am doing well, thank you.",
    ),
    "stop": (
        _p(
            "stop",
            """
            stop
            stop talking
            be quiet
            that's enough
            okay stop
            never mind
            please stop
            hush
            quiet please
            stop please
            forget it
            enough
            cancel that
            shush
            please be quiet
            """,
        ),
        "Okay.",
    ),
    "bye": (
        _p(
            "bye",
            """
            goodbye
            bye
            see you later
            good night
            bye bye
            see you
            bye for now
            talk to you later
            see you soon
            goodbye for now
            catch you later
            farewell
            I'm off
            later
            okay bye
            """,
        ),
        "Goodbye!",
    ),
}


def smalltalk(rng: random.Random, split: str, clock: Clock, intent: str | None = None) -> Exchange:
    """Greetings, identity, thanks, "stop" and goodbyes, each with one fixed answer."""
    phrasings, answer = _SMALLTALK[intent or rng.choice(list(_SMALLTALK))]
    template, pid = phrasings.pick(rng, split)
    return Exchange("smalltalk", template, answer, phrasing=pid)


# --- fallback ---
_FALLBACK = _p(
    "fallback",
    """
    what's the weather like today
    tell me about the {w}
    will it rain tomorrow
    where can I buy a {w}
    what's the weather like tomorrow
    how do I draw a {w}
    play some music
    what does a {w} look like
    turn on the lights
    where can I find a {w}
    call my {r}
    what is the square root of {n}
    tell me a joke
    send a message to my {r}
    tell me a story about a {w}
    book a table for {n}
    what is the news today
    why is the {w} so expensive
    how many people live in {c}
    what is the population of {c}
    who invented the {w}
    translate {w} into French
    what is the best {w}
    order a pizza for me
    turn off the lights
    how do you spell {w}
    wake me up at {n} o'clock
    what is the capital of {c}
    how far away is the moon
    play my favourite song
    how old is the universe
    how do I cook a {w}
    what language do they speak in {c}
    remind me to call my {r}
    send an email to my {r}
    """,
)
_COUNTRIES = [
    "France",
    "Spain",
    "Japan",
    "Brazil",
    "Canada",
    "Egypt",
    "Kenya",
    "Peru",
    "Norway",
    "India",
    "Mexico",
    "Italy",
]
_RELATIVES = ["mother", "father", "sister", "brother", "friend", "boss", "doctor"]


def fallback(rng: random.Random, split: str, clock: Clock) -> Exchange:
    """Anything out of scope -> "Sorry, I can't help with that yet."."""
    template, pid = _FALLBACK.pick(rng, split)
    word = rng.choice(words_for(split)) if "{w}" in template else None
    question = template.format(
        w=word, c=rng.choice(_COUNTRIES), r=rng.choice(_RELATIVES), n=number_words(rng.randint(2, 12))
    )
    return Exchange("fallback", question, FALLBACK_ANSWER, phrasing=pid, word=word)


# --- registry ---
Skill = Callable[[random.Random, str, Clock], Exchange]
SKILLS: dict[str, Skill] = {
    "arithmetic": arithmetic,
    "time": time_of_day,
    "date": date,
    "repeat": repeat,
    "timer": timer,
    "smalltalk": smalltalk,
    "fallback": fallback,
}
SKILL_WEIGHTS = {
    "arithmetic": 0.22,
    "time": 0.10,
    "date": 0.08,
    "repeat": 0.25,
    "timer": 0.12,
    "smalltalk": 0.13,
    "fallback": 0.10,
}


def fixed_answers() -> list[str]:
    """The small-talk answers (each intent has exactly one)."""
    return [answer for _, answer in _SMALLTALK.values()]


def all_phrasings() -> list[Phrasings]:
    """Every phrasing list, for the held-out checks and the tokenizer corpus."""
    lists = [_ARITH_ANY, *_ARITH_OP.values(), _TIME, _DATE, _YEAR, _REPEAT, _TIMER, _FALLBACK]
    return lists + [p for p, _ in _SMALLTALK.values()]


def _fixed_words() -> set[str]:
    """Words the templates and their fixed slot values use (never held out: they occur in training anyway)."""
    texts = [t for p in all_phrasings() for t in p.templates] + [a for _, a in _SMALLTALK.values()]
    texts += _COUNTRIES + _RELATIVES
    return set(re.findall(r"[a-z']+", " ".join(texts).lower()))


@functools.cache
def held_out_words() -> tuple[str, ...]:
    """Vocabulary words reserved for the test split (hashed slice minus words the templates use)."""
    fixed = _fixed_words()
    return tuple(w for w in WORDS if is_held_out(w) and w not in fixed)


@functools.cache
def words_for(split: str) -> tuple[str, ...]:
    """The open-vocabulary words a dialogue of `split` draws from."""
    held = set(held_out_words())
    return held_out_words() if split == "test" else tuple(w for w in WORDS if w not in held)


def random_exchange(rng: random.Random, split: str, clock: Clock, skill: str | None = None) -> Exchange:
    """One exchange of `skill` (drawn by SKILL_WEIGHTS when None) for the `split` ("train" or "test")."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    name = skill or rng.choices(list(SKILL_WEIGHTS), weights=list(SKILL_WEIGHTS.values()))[0]
    return SKILLS[name](rng, split, clock)
