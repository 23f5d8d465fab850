"""Small talk and identity: greetings, who it is, what it can do, thanks, "how are you", "stop" and
goodbyes, each intent with one fixed answer."""

from __future__ import annotations

import random

from engine.data.skills.base import Exchange, Phrasings, Request, Skill, phrasings

_SMALLTALK: dict[str, tuple[Phrasings, str]] = {
    "greet": (
        phrasings(
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
        phrasings(
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
        phrasings(
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
        phrasings(
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
        phrasings(
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
        phrasings(
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
        phrasings(
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


def smalltalk(rng: random.Random, request: Request, intent: str | None = None) -> Exchange:
    """Greetings, identity, thanks, "stop" and goodbyes, each with one fixed answer."""
    chosen, answer = _SMALLTALK[intent or rng.choice(list(_SMALLTALK))]
    template, pid = chosen.pick(rng, request.split)
    return Exchange("smalltalk", template, answer, phrasing=pid)


def stop_request(rng: random.Random, request: Request) -> Exchange:
    """The user's "stop" (what a barge-in often is) and the assistant's "Okay."."""
    return smalltalk(rng, request, intent="stop")


SKILL = Skill(
    "smalltalk",
    0.13,
    smalltalk,
    tuple(p for p, _ in _SMALLTALK.values()),
    fixed_answers=tuple(answer for _, answer in _SMALLTALK.values()),
    fixed_words=tuple(answer for _, answer in _SMALLTALK.values()),
)
