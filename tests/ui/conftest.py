"""Fixtures for the talk client tests: the untrained tiny engine and random codec (as `hark serve` builds them
for tests, in tests/conftest.py), the spoken question as a WAV file, and a factory of talk clients."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from audio.wavio import write_wav
from ui.audio_io import AudioIO, AudioSpec
from ui.client import TalkClient, TalkConfig
from ui.transport import EmbeddedConnector

LEAD_IN_S = 1.0  # silence before the question: the untrained assistant starts talking at once


@pytest.fixture(scope="session")
def question_wav(tmp_path_factory: pytest.TempPathFactory, question: np.ndarray) -> Path:
    """A WAV of LEAD_IN_S silence, then the question, then a second of silence."""
    path = tmp_path_factory.mktemp("talk") / "question.wav"
    silence = np.zeros(24000, np.float32)
    write_wav(path, np.concatenate([silence[: int(LEAD_IN_S * 24000)], question, silence]), 24000)
    return path


@pytest.fixture
def file_client(models, question_wav: Path, tmp_path: Path) -> Callable[..., TalkClient]:
    """`file_client(**config)`: an embedded talk client reading question.wav and writing tmp_path/out.wav."""

    def make(input_wav: Path = question_wav, **config) -> TalkClient:
        audio = AudioIO(AudioSpec(input_file=str(input_wav), output_file=str(tmp_path / "out.wav")))
        return TalkClient(EmbeddedConnector(*models), audio, TalkConfig(**config))

    return make
