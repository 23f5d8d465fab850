"""A small English sentence grammar for synthetic speech (codec training and evaluation).

The sentences are plain, grammatical and built from common words, so that an English recogniser's
language model (pocketsphinx) judges intelligibility rather than odd wording. Two disjoint sets of
sentences come from disjoint seeds and an explicit exclusion, which keeps evaluation text unseen.
"""

from __future__ import annotations

import random

_SUBJECTS = [
    "my brother",
    "the teacher",
    "our neighbour",
    "a young woman",
    "the old man",
    "her friend",
    "the doctor",
    "his sister",
    "the children",
    "my father",
    "the driver",
    "a small boy",
    "the farmer",
    "your mother",
    "the students",
    "a tall girl",
    "the manager",
    "my cousin",
    "the baker",
    "we",
    "they",
    "i",
    "you",
    "she",
    "he",
]
_VERBS = [
    "bought",
    "found",
    "painted",
    "cleaned",
    "opened",
    "carried",
    "sold",
    "washed",
    "lost",
    "moved",
    "fixed",
    "built",
    "watched",
    "liked",
    "visited",
    "needed",
    "wanted",
    "closed",
    "picked up",
    "left",
]
_ADJECTIVES = [
    "small",
    "big",
    "red",
    "green",
    "old",
    "new",
    "heavy",
    "bright",
    "quiet",
    "warm",
    "cold",
    "yellow",
    "black",
    "white",
    "strange",
    "lovely",
    "empty",
    "wooden",
    "broken",
    "clean",
]
_NOUNS = [
    "car",
    "house",
    "book",
    "table",
    "chair",
    "window",
    "garden",
    "box",
    "letter",
    "bottle",
    "door",
    "boat",
    "kitchen",
    "bicycle",
    "picture",
    "basket",
    "coat",
    "lamp",
    "phone",
    "road",
    "horse",
    "river",
    "shop",
    "ticket",
    "apple",
    "bag",
    "bridge",
    "clock",
    "desk",
    "fence",
]
_PLACES = [
    "near the station",
    "in the morning",
    "after lunch",
    "last night",
    "at the market",
    "before dinner",
    "on sunday",
    "in the city",
    "by the river",
    "at school",
    "yesterday",
    "this week",
    "in the rain",
    "at home",
    "next to the park",
    "on the way home",
    "two days ago",
    "during the summer",
]
_QUESTIONS = [
    "where is the {n}",
    "can you open the {n}",
    "who {v} the {a} {n}",
    "why is the {n} so {a}",
    "what time does the {n} close",
    "did {s} see the {a} {n}",
    "how far is the {n} from here",
]


_NUMBERS = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fifteen",
    "seventeen",
    "twenty",
    "twenty two",
    "thirty",
    "forty five",
    "fifty",
    "sixty",
    "ninety nine",
    "a hundred",
]
_NUMBER_SENTENCES = [
    "{x} plus {y} is {z}",
    "what is {x} times {y}",
    "set a timer for {x} minutes",
    "it is {x} {y} in the afternoon",
    "the train leaves at {x} {y}",
    "{x} minus {y} is {z}",
]


def _statement(rng: random.Random) -> str:
    s, v = rng.choice(_SUBJECTS), rng.choice(_VERBS)
    obj = f"the {rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)}"
    tail = f" {rng.choice(_PLACES)}" if rng.random() < 0.8 else ""
    return f"{s} {v} {obj}{tail}"


def _question(rng: random.Random) -> str:
    return rng.choice(_QUESTIONS).format(
        n=rng.choice(_NOUNS), a=rng.choice(_ADJECTIVES), v=rng.choice(_VERBS), s=rng.choice(_SUBJECTS)
    )


def sentences(count: int, seed: int, exclude: set[str] | None = None) -> list[str]:
    """`count` distinct sentences (statements, questions and pairs of them) drawn with `seed`.

    Args:
        count: how many sentences to return.
        seed: the random seed; the same seed always gives the same list.
        exclude: sentences that must not be returned (e.g. the other split).
    """
    rng = random.Random(seed)
    exclude = exclude or set()
    out: dict[str, None] = {}
    while len(out) < count:
        r = rng.random()
        if r < 0.6:
            text = _statement(rng)
        elif r < 0.85:
            text = _question(rng)
        elif r < 0.93:
            text = f"{_statement(rng)} and {_statement(rng)}"
        else:
            x, y, z = (rng.choice(_NUMBERS) for _ in range(3))
            text = rng.choice(_NUMBER_SENTENCES).format(x=x, y=y, z=z)
        if text not in exclude:
            out[text] = None
    return list(out)
