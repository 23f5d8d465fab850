"""Open-vocabulary repetition: "repeat after me: lantern" -> "lantern." over the whole vocabulary
(engine/data/vocabulary.py); the test split asks for words no training dialogue holds."""

from __future__ import annotations

import random

from engine.data.skills.base import Exchange, Request, Skill, alternatives, phrasings
from engine.data.vocabulary import WORDS

_REPEAT = phrasings(
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


def repeat(rng: random.Random, request: Request) -> Exchange:
    """ "repeat after me: lantern" -> "Lantern."."""
    word = rng.choice(request.words)
    template, pid = _REPEAT.pick(rng, request.split)
    # Lower case, so the answer reuses the very pieces of the user transcript (no case mapping to learn).
    return Exchange("repeat", template.format(w=word), f"{word}.", phrasing=pid, word=word)


def _grammar() -> str:
    return f"public <s> = {alternatives(list(WORDS))};"


SKILL = Skill("repeat", 0.25, repeat, (_REPEAT,), _grammar)
