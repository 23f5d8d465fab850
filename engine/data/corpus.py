"""Text corpus for training the tokenizer: what the monologue, user-transcript and context streams carry."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator

from engine.data.clock import Clock
from engine.data.skills import random_exchange, words_for


def normalize_transcript(text: str) -> str:
    """The user-transcript form of spoken text: lower case, words only ("What's up?" -> "what's up")."""
    return " ".join(re.findall(r"[a-z0-9']+", text.lower()))


def tokenizer_corpus(exchanges: int = 20000, seed: int = 0) -> Iterator[str]:
    """Lines of training-split text: questions (as transcripts), answers, tool lines, clock contexts, words.

    Only the train split is used, so held-out words reach the model as sub-word pieces that it did train on.
    """
    rng = random.Random(seed)
    for _ in range(exchanges):
        clock = Clock.random(rng)
        ex = random_exchange(rng, "train", clock)
        yield normalize_transcript(ex.question)
        yield ex.answer
        if ex.tool:
            yield ex.tool
        if rng.random() < 0.2:
            yield clock.context()
    yield from words_for("train")
