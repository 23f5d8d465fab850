"""Held-out spoken questions for the benchmarks: test-split phrasings and words in test-split voices.

The text comes from the dialogue templates' test split (engine/data/skills/) and the voice from the
held-out user voices (engine/data/voices.py), so a trained engine hears nothing it was trained on.
Synthesized audio is cached as WAV files (synthesis, festival's above all, is slower than real time).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audio.tts import SAMPLE_RATE, Voice, synthesize
from audio.wavio import read_wav, write_wav

SILENCE_DBFS = -40.0  # a sample quieter than this (relative to full scale) counts as silence


@dataclass(frozen=True)
class Utterance:
    """One spoken input with its voiced span.

    Attributes:
        text: what is said.
        voice: the synthesizer voice's key.
        pcm: float32 [n] mono samples at 24 kHz, cut right after the last voiced sample (so a client
            that commits when its audio ends does so at the end of speech).
        voiced_start: index of the first sample louder than `SILENCE_DBFS`.
        voiced_end: index just after the last such sample (the end of speech).
    """

    text: str
    voice: str
    pcm: np.ndarray
    voiced_start: int
    voiced_end: int

    @property
    def seconds(self) -> float:
        return len(self.pcm) / SAMPLE_RATE


def voiced_span(pcm: np.ndarray, dbfs: float = SILENCE_DBFS) -> tuple[int, int] | None:
    """(first, one past the last) index of samples louder than `dbfs`; None for an all-silent signal."""
    loud = np.flatnonzero(np.abs(pcm) > 10 ** (dbfs / 20))
    if not len(loud):
        return None
    return int(loud[0]), int(loud[-1]) + 1


def make_utterance(text: str, voice_key: str, pcm: np.ndarray) -> Utterance:
    """Cut `pcm` after its voiced span and record the span; ValueError if it is silent."""
    span = voiced_span(pcm)
    if span is None:
        raise ValueError(f"synthesized audio for {text!r} ({voice_key}) is silent")
    return Utterance(text, voice_key, pcm[: span[1]].astype(np.float32), span[0], span[1])


def held_out_questions(
    count: int,
    seed: int = 0,
    synthesizers: tuple[str, ...] = ("espeak-ng", "flite"),
    cache: Path | None = None,
) -> list[Utterance]:
    """`count` spoken test-split questions, each in a held-out voice of one of `synthesizers`.

    Raises:
        ValueError: none of `synthesizers` has a held-out voice on this machine.
    """
    from engine.data.clock import Clock  # heavy, only when used
    from engine.data.skills import random_exchange
    from engine.data.voices import user_voices

    pools = user_voices("test")
    engines = [engine for engine in synthesizers if pools.get(engine)]
    if not engines:
        raise ValueError(f"no held-out voice for synthesizers {list(synthesizers)}; have {sorted(pools)}")
    rng = random.Random(seed)
    clock = Clock(dt.datetime(2026, 11, 23, 14, 5))
    out = []
    for _ in range(count):
        text = random_exchange(rng, "test", clock).question
        voice = rng.choice(
            pools[rng.choice(engines)]
        )  # synthesizers equally often, whatever their voice count
        out.append(make_utterance(text, voice.key, _speech(text, voice, cache)))
    return out


def _speech(text: str, voice: Voice, cache: Path | None) -> np.ndarray:
    """`synthesize(text, voice)`, read from / written to `cache` as a WAV file when given."""
    if cache is None:
        return synthesize(text, voice)
    key = hashlib.sha256(f"{voice.key}|{text}".encode()).hexdigest()[:24]
    path = cache / f"{key}.wav"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.wav")
        write_wav(tmp, synthesize(text, voice), SAMPLE_RATE)
        tmp.replace(path)
    pcm, rate = read_wav(path)
    if rate != SAMPLE_RATE:
        raise ValueError(f"{path}: cached speech is {rate} Hz, expected {SAMPLE_RATE}; delete the file")
    return pcm
