"""The honest fallback: anything out of scope -> "Sorry, I can't help with that yet."."""

from __future__ import annotations

import random

from engine.data.numbers import number_words
from engine.data.skills.base import Exchange, Request, Skill, phrasings

FALLBACK_ANSWER = "Sorry, I can't help with that yet."

_FALLBACK = phrasings(
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


def fallback(rng: random.Random, request: Request) -> Exchange:
    """Anything out of scope -> "Sorry, I can't help with that yet."."""
    template, pid = _FALLBACK.pick(rng, request.split)
    word = rng.choice(request.words) if "{w}" in template else None
    question = template.format(
        w=word, c=rng.choice(_COUNTRIES), r=rng.choice(_RELATIVES), n=number_words(rng.randint(2, 12))
    )
    return Exchange("fallback", question, FALLBACK_ANSWER, phrasing=pid, word=word)


SKILL = Skill(
    "fallback",
    0.10,
    fallback,
    (_FALLBACK,),
    fixed_answers=(FALLBACK_ANSWER,),
    fixed_words=tuple(_COUNTRIES + _RELATIVES),
)
