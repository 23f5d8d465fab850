"""Time of day: "what time is it" -> the clock of the text context, spoken ("It is two oh five in the
afternoon."): a span of the context to copy, so nothing is memorised."""

from __future__ import annotations

import random

from engine.data.clock import PERIODS, spoken_time
from engine.data.numbers import number_words
from engine.data.skills.base import Exchange, Request, Skill, alternatives, phrasings

_TIME = phrasings(
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


def time_of_day(rng: random.Random, request: Request) -> Exchange:
    """ "what time is it" -> the clock from the context, spoken."""
    template, pid = _TIME.pick(rng, request.split)
    return Exchange("time", template, f"It is {spoken_time(request.clock.when)}.", phrasing=pid)


def _grammar() -> str:
    hours = alternatives([number_words(i) for i in range(1, 13)])
    minutes = alternatives(["o'clock"] + ["oh " + number_words(i) for i in range(1, 10)]
                           + [number_words(i) for i in range(10, 60)])  # fmt: skip
    return f"public <s> = it is ({hours}) ({minutes}) ({' | '.join(PERIODS)});"


SKILL = Skill("time", 0.10, time_of_day, (_TIME,), _grammar)
