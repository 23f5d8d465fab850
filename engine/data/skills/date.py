"""Date and year: "what day is it" -> "Today is Monday, the twenty third of November.", "what year is it"
-> "It is twenty twenty six.", copied from the clock of the text context."""

from __future__ import annotations

import calendar
import random

from engine.data.clock import spoken_date
from engine.data.numbers import ordinal_words, year_words
from engine.data.skills.base import Exchange, Request, Skill, alternatives, phrasings

_DATE = phrasings(
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
_YEAR = phrasings(
    "year",
    """
    what year is it
    which year is it
    what year are we in
    do you know what year it is
    tell me the year
    what's the year
    what is the current year
    can you tell me the year
    which year are we in
    what year is it now
    do you know the year
    what's the current year
    remind me what year it is
    what is this year
    tell me what year it is
    """,
)


def date(rng: random.Random, request: Request) -> Exchange:
    """ "what day is it" / "what year is it" -> the date from the context, spoken."""
    w = request.clock.when
    if rng.random() < 0.2:
        template, pid = _YEAR.pick(rng, request.split)
        return Exchange("date", template, f"It is {year_words(w.year)}.", phrasing=pid)
    template, pid = _DATE.pick(rng, request.split)
    return Exchange("date", template, f"Today is {spoken_date(w)}.", phrasing=pid)


def _grammar() -> str:
    weekdays = alternatives([d.lower() for d in calendar.day_name])
    months = alternatives([m.lower() for m in calendar.month_name[1:]])
    ordinals = alternatives([ordinal_words(i) for i in range(1, 32)])
    years = alternatives([year_words(y) for y in range(2020, 2041)])
    return f"public <s> = today is ({weekdays}) the ({ordinals}) of ({months}) | it is ({years});"


SKILL = Skill("date", 0.08, date, (_DATE, _YEAR), _grammar)
