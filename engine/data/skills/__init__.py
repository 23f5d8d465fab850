"""The default assistant's skills, one module each; this registry and everything else derive from them.

To add a skill: write `engine/data/skills/NAME.py` with its phrasings, a generator and `SKILL = Skill(...)`
(weight, judge grammar, fixed answers; see `base.Skill`), and add the module to `_MODULES` below. The
data, the tokenizer corpus, the held-out bookkeeping and the pocketsphinx judge all read `SKILLS`.

Held out for the test split: every fifth phrasing of each list (`Phrasings.held_out`), the words of
`held_out_words()`, held-out clocks (engine/data/clock.py) and number pairs (arithmetic.py).
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Mapping

from engine.data.clock import Clock
from engine.data.skills import arithmetic, date, fallback, repeat, smalltalk, time_of_day, timer
from engine.data.skills.base import Exchange, Phrasings, Request, Skill
from engine.data.vocabulary import WORDS, is_held_out

SPLITS = ("train", "test")
# The order is part of the data: a skill is drawn by `rng.choices` over it.
_MODULES = (arithmetic, time_of_day, date, repeat, timer, smalltalk, fallback)
SKILLS: dict[str, Skill] = {m.SKILL.name: m.SKILL for m in _MODULES}

__all__ = [
    "SKILLS",
    "SPLITS",
    "Exchange",
    "Phrasings",
    "Request",
    "Skill",
    "parse_skill_weights",
    "random_exchange",
    "skill_weights",
]


def all_phrasings() -> list[Phrasings]:
    """Every phrasing list of every skill, for the held-out checks and the tokenizer corpus."""
    return [p for skill in SKILLS.values() for p in skill.phrasings]


def fixed_answers() -> list[str]:
    """The answers that never change, of every skill that has them (judged together)."""
    return [a for skill in SKILLS.values() for a in skill.fixed_answers]


def _fixed_words() -> set[str]:
    """Words the templates, fixed answers and slot values use (never held out: training has them anyway)."""
    texts = [t for p in all_phrasings() for t in p.templates]
    texts += [t for skill in SKILLS.values() for t in skill.fixed_words]
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


def request(split: str, clock: Clock) -> Request:
    """What a generator of `split` is handed, with that split's words."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return Request(split, clock, words_for(split))


def skill_weights(overrides: Mapping[str, float] | None = None) -> list[float]:
    """Each skill's share of generated exchanges, in `SKILLS` order: its own weight unless `overrides`
    names it (the text stage spends more of its dialogues on the skills it learns last)."""
    overrides = dict(overrides or {})
    unknown = set(overrides) - set(SKILLS)
    if unknown:
        raise ValueError(f"unknown skills {sorted(unknown)}; the skills are {list(SKILLS)}")
    if any(w < 0 for w in overrides.values()):
        raise ValueError(f"skill weights must not be negative: {overrides}")
    return [overrides.get(name, s.weight) for name, s in SKILLS.items()]


def parse_skill_weights(text: str) -> dict[str, float]:
    """`date=0.18,timer=0.07` -> {"date": 0.18, "timer": 0.07} (checked against `SKILLS`)."""
    weights = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        try:
            if not sep:
                raise ValueError
            weights[name.strip()] = float(value)
        except ValueError:
            raise ValueError(f"bad skill weight {item!r}: expected NAME=NUMBER") from None
    skill_weights(weights)  # checks the names and signs
    return weights


def random_exchange(
    rng: random.Random,
    split: str,
    clock: Clock,
    skill: str | None = None,
    weights: Mapping[str, float] | None = None,
) -> Exchange:
    """One exchange of `skill` (drawn by the skills' weights, or `weights` where given, when None) for
    `split` ("train" or "test")."""
    asked = request(split, clock)
    name = skill or rng.choices(list(SKILLS), weights=skill_weights(weights))[0]
    return SKILLS[name].generate(rng, asked)
