"""Timers: "set a timer for five minutes" -> "Okay, a timer for five minutes, starting now." plus the tool
line `timer.set {"seconds": 300}` on the monologue."""

from __future__ import annotations

import json
import random

from engine.data.numbers import number_words
from engine.data.skills.base import Exchange, Request, Skill, alternatives, phrasings

_TIMER = phrasings(
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


def timer(rng: random.Random, request: Request) -> Exchange:
    """ "set a timer for five minutes" -> confirmation + `timer.set {"seconds": 300}`."""
    spoken, seconds = _duration(rng)
    template, pid = _TIMER.pick(rng, request.split)
    tool = "timer.set " + json.dumps({"seconds": seconds})
    answer = f"Okay, a timer for {spoken}, starting now."
    return Exchange("timer", template.format(d=spoken), answer, tool=tool, phrasing=pid)


def _grammar() -> str:
    n = alternatives([number_words(i) for i in range(145)])
    units = "second | seconds | minute | minutes | hour | hours"
    return f"public <s> = okay a timer for (<n> ({units}) | half an hour) starting now;\n<n> = {n};"


SKILL = Skill("timer", 0.12, timer, (_TIMER,), _grammar)
