"""Untrained tiny engines with heads zeroed into a known behaviour, for tests of what is built around them."""

import torch

from engine.engine import Engine


def quiet_engine(seed: int) -> Engine:
    """Never speaks on its own with greedy sampling: its text logits all tie (PAD) and so do its audio
    logits (code 0, its silence code); only start_turn makes it talk."""
    engine = Engine.random("tiny", seed=seed)
    with torch.no_grad():
        engine.model.text_head.weight.zero_()
        engine.model.audio_head.frames.weight.zero_()
    return engine


def deaf_engine(seed: int) -> Engine:
    """Talks whenever it may (as untrained engines do) but never transcribes the user: its user-transcript
    logits all tie (PAD), so its own transcript never shows a user turn ending."""
    engine = Engine.random("tiny", seed=seed)
    with torch.no_grad():
        engine.model.user_text_head.weight.zero_()
    return engine
