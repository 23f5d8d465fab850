"""Fixtures for the talk client tests: the untrained tiny engine and random codec (as `hark serve` builds them
for tests, in tests/conftest.py), the user's greeting and question as WAV files, and a factory of talk
clients."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from audio.tts import Voice, synthesize
from audio.wavio import write_wav
from ui.audio_io import AudioIO, AudioSpec
from ui.client import TalkClient, TalkConfig
from ui.transport import EmbeddedConnector

GAP_S = 1.5  # after the greeting: VAD ends the user's turn and the untrained assistant starts talking


@pytest.fixture(scope="session")
def greeting() -> np.ndarray:
    """The user's first words, so that the assistant has something to answer (float32 24 kHz)."""
    return synthesize("hello there", Voice("espeak-ng", "en-us+m1"))


@pytest.fixture(scope="session")
def question_wav(
    tmp_path_factory: pytest.TempPathFactory, greeting: np.ndarray, question: np.ndarray
) -> Path:
    """A WAV of the greeting, GAP_S of silence (the assistant answers), then the question (it barges in),
    then a second of silence."""
    path = tmp_path_factory.mktemp("talk") / "question.wav"
    silence = np.zeros(24000, np.float32)
    gap = np.zeros(int(GAP_S * 24000), np.float32)
    write_wav(path, np.concatenate([greeting, gap, question, silence]), 24000)
    return path


@pytest.fixture(scope="session")
def greetings_wav(tmp_path_factory: pytest.TempPathFactory, greeting: np.ndarray) -> Path:
    """A WAV of the greeting every three seconds for half a minute: whenever the mic is open, the user
    soon says something to answer."""
    path = tmp_path_factory.mktemp("talk") / "greetings.wav"
    period = np.zeros(3 * 24000, np.float32)
    period[: len(greeting)] = greeting
    write_wav(path, np.tile(period, 10), 24000)
    return path


@pytest.fixture
def file_client(models, question_wav: Path, tmp_path: Path) -> Callable[..., TalkClient]:
    """`file_client(**config)`: an embedded talk client reading question.wav and writing tmp_path/out.wav."""

    def make(input_wav: Path = question_wav, **config) -> TalkClient:
        audio = AudioIO(AudioSpec(input_file=str(input_wav), output_file=str(tmp_path / "out.wav")))
        return TalkClient(EmbeddedConnector(*models), audio, TalkConfig(**config))

    return make
