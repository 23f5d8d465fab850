"""The wall clock a dialogue or a live session puts in the engine's text context, in the words the
answers speak, and which clocks are held out of training.

The service words the live clock with it too (app/runtime.py), so an engine hears the wording it was
trained on.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from engine.data.holdout import hashed_tenth
from engine.data.numbers import number_words, ordinal_words, year_words

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


def is_held_out_clock(when: dt.datetime) -> bool:
    """Test-split clocks: a held-out time of day and a held-out day of the year at once, so neither the
    time nor the date answer of a test clock is ever spoken in training; training clocks have neither."""
    held_time = hashed_tenth(f"time/{when:%H:%M}")
    held_day = hashed_tenth(f"day/{when:%m-%d}")
    return held_time and held_day


def is_training_clock(when: dt.datetime) -> bool:
    """Clocks a training dialogue may use: neither their time of day nor their day is held out."""
    return not hashed_tenth(f"time/{when:%H:%M}") and not hashed_tenth(f"day/{when:%m-%d}")


PERIODS = ("in the morning", "in the afternoon", "in the evening", "at night")


def _period(hour: int) -> str:
    if 5 <= hour < 12:
        return PERIODS[0]
    if 12 <= hour < 18:
        return PERIODS[1]
    if 18 <= hour < 22:
        return PERIODS[2]
    return PERIODS[3]


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
