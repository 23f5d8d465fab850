"""Untrained tiny engines with heads shaped into a known behaviour, for tests of what is built around them."""

import torch

from engine.engine import Engine
from engine.tokenizer import PAD_ID


def says_only_pad(head: torch.nn.Linear) -> None:
    """From now on `head` puts all its probability on PAD. A forward hook, because the heads have no bias
    and greedy text decoding speaks where PAD holds less than half the mass (a tie is not enough)."""
    logits = torch.full((head.out_features,), -1e4)
    logits[PAD_ID] = 0.0
    head.register_forward_hook(lambda _module, _inputs, out: logits.to(out.dtype).expand_as(out))


def quiet_engine(seed: int) -> Engine:
    """Never speaks on its own with greedy sampling: its text head says only PAD and its audio logits all
    tie (code 0, its silence code); only start_turn makes it talk."""
    engine = Engine.random("tiny", seed=seed)
    says_only_pad(engine.model.text_head)
    with torch.no_grad():
        engine.model.audio_head.frames.weight.zero_()
    return engine


def deaf_engine(seed: int) -> Engine:
    """Talks whenever it may (as untrained engines do) but never transcribes the user: its user-transcript
    head says only PAD, so its own transcript never shows a user turn ending."""
    engine = Engine.random("tiny", seed=seed)
    says_only_pad(engine.model.user_text_head)
    return engine
