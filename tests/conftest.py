"""Fixtures shared by the whole test suite (pytest puts this directory on sys.path, so `pulse` imports)."""

import numpy as np
import pytest
import torch
from pulse import pulse_server  # noqa: F401  (session fixture: a PulseAudio null-sink loopback device)

from app.runtime import ModelChoice, load_models
from audio.tts import Voice, synthesize

QUESTION = "what is seventeen plus five"


@pytest.fixture(autouse=True)
def _one_thread():
    """The machine's two cores are shared: keep torch on one thread."""
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def models():
    """(Engine, Codec): Engine.random("tiny") and an 8-filter random codec, as `hark serve` builds them."""
    torch.set_num_threads(1)
    return load_models(ModelChoice(engine="random:tiny", codec="random:tiny"))


@pytest.fixture(scope="session")
def question() -> np.ndarray:
    """A spoken question (espeak-ng), float32 24 kHz."""
    return synthesize(QUESTION, Voice("espeak-ng", "en-us+m1"))
