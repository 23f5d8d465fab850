"""Training and evaluation speech for the codec: a synthesized pool, random crops and augmentation.

The pool is synthesized once (cached as .npy under the data folder) from the sentence grammar in
`audio.sentences` and the voices of `audio.tts`. Held-out voices and sentences never enter training:
flite `slt` and a few espeak-ng variants and accents are reserved for evaluation.
Augmentation makes the codec robust to what a real microphone hears: level, small noise, room reverb
and band-limiting.
"""

from __future__ import annotations

import hashlib
import logging
import math
import random
from concurrent.futures import ProcessPoolExecutor
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
from scipy.signal import butter, fftconvolve, resample_poly, sosfilt
from tqdm import tqdm

from audio.sentences import sentences
from audio.tts import (
    FESTIVAL_FEMALE_VOICES,
    PITCH_FOLLOWING_FLITE_VOICES,
    SAMPLE_RATE,
    SPEEDS,
    Voice,
    installed_festival_voices,
    raised_pitch_voices,
    synthesize,
    voice_catalog,
)

log = logging.getLogger(__name__)

HELD_OUT_ESPEAK = ("+klatt3", "+Lee", "+f4", "en-029+")
HELD_OUT_FLITE = ("slt",)
EVAL_SENTENCE_SEED = 999


def is_held_out(voice: Voice) -> bool:
    """Whether `voice` is reserved for evaluation."""
    if voice.engine == "flite":
        return voice.name in HELD_OUT_FLITE
    if voice.engine == "espeak-ng":
        return any(tag in voice.name for tag in HELD_OUT_ESPEAK)
    return False


def training_voices(speeds: tuple[float, ...] = SPEEDS) -> list[Voice]:
    """Voices the codec trains on: the catalog's, plus female voices (other-language festival voices and
    flite's male voices at raised pitch), since all the natural-sounding English voices are male and
    the held-out slt is not. The natural voices are repeated so they are not drowned by espeak-ng."""
    voices = [v for v in voice_catalog(speeds) if not is_held_out(v)]
    voices += [
        Voice("festival", n, s) for n in installed_festival_voices(FESTIVAL_FEMALE_VOICES) for s in speeds
    ]
    voices += raised_pitch_voices(PITCH_FOLLOWING_FLITE_VOICES, speeds)
    natural = [v for v in voices if v.engine != "espeak-ng"]
    return voices + natural * 20


def eval_sentences(count: int = 60) -> list[str]:
    """Held-out sentences: a seed that training never uses, and none that training can draw."""
    return sentences(count, seed=EVAL_SENTENCE_SEED)


def _render(job: tuple[str, Voice]) -> np.ndarray:
    text, voice = job
    return synthesize(text, voice)


def build_pool(folder: Path, utterances: int, seed: int = 0, jobs: int = 2) -> np.ndarray:
    """Synthesize (or load from `folder`) `utterances` training sentences; returns them concatenated.

    Sentences come from training seeds only and exclude the evaluation sentences.
    """
    voices = training_voices()
    voice_set = hashlib.sha256(" ".join(sorted({v.key for v in voices})).encode()).hexdigest()[:8]
    path = folder / f"pool-{utterances}-{seed}-{voice_set}.npy"  # new voices make a new pool
    if path.exists():
        return np.load(path, mmap_mode="r")
    rng = random.Random(seed)
    held_out = set(eval_sentences(200))
    texts = sentences(utterances, seed=seed + 1, exclude=held_out)
    work = [(t, rng.choice(voices)) for t in texts]
    folder.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(jobs) as pool:
        clips = list(tqdm(pool.map(_render, work, chunksize=16), total=len(work), desc="synthesizing"))
    audio = np.concatenate(clips).astype(np.float32)
    np.save(path, audio)
    log.info("codec pool: %d utterances, %.1f minutes -> %s", len(clips), len(audio) / SAMPLE_RATE / 60, path)
    return audio


# Speech played faster or slower moves every formant, and the pitch, by the same factor: a cheap stand-in
# for the vocal tracts the pool lacks (women's and children's are shorter than men's): a codec trained
# without it lost even its own training voice once that voice's formants moved (docs/codec.md, "What an
# unseen voice loses"). Crops are short, so the change of duration is harmless.
VOCAL_TRACT_SCALES = (0.8, 1.3)


def _crop(pool: np.ndarray, start: int, length: int, scale: float) -> np.ndarray:
    """`length` samples from `start`, with frequencies multiplied by `scale` (1.0: a plain copy)."""
    if scale == 1.0:
        return pool[start : start + length]
    ratio = Fraction(scale).limit_denominator(20)
    taken = pool[start : start + math.ceil(length * ratio) + 64]  # filter tail
    return resample_poly(taken, ratio.denominator, ratio.numerator)[:length]


def random_crops(
    pool: np.ndarray, batch: int, length: int, rng: np.random.Generator, scale_prob: float = 0.0
) -> torch.Tensor:
    """`batch` random crops of `length` samples from the pool, skipping near-silent ones; [B, 1, length].
    A `scale_prob` share of them have their formants and pitch scaled (VOCAL_TRACT_SCALES)."""
    out = np.empty((batch, length), dtype=np.float32)
    span = math.ceil(length * VOCAL_TRACT_SCALES[1]) + 64
    for i in range(batch):
        for _ in range(10):
            start = int(rng.integers(0, len(pool) - span))
            scale = rng.uniform(*VOCAL_TRACT_SCALES) if rng.random() < scale_prob else 1.0
            out[i] = _crop(pool, start, length, scale)
            if np.abs(out[i]).max() > 0.05:
                break
    return torch.from_numpy(out).unsqueeze(1)


def _room_impulse(rng: np.random.Generator) -> np.ndarray:
    """A synthetic room: exponentially decaying noise with RT60 between 0.1 and 0.6 s, direct path first."""
    rt60 = rng.uniform(0.1, 0.6)
    n = int(rt60 * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    ir = rng.standard_normal(n) * np.exp(-6.9 * t / rt60) * rng.uniform(0.1, 0.4)
    ir[0] = 1.0
    return ir / np.sqrt(np.sum(ir**2))


def augment(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Apply a random subset of reverb, band-limiting, noise and level change to one clip [T]."""
    if rng.random() < 0.3:
        x = fftconvolve(x, _room_impulse(rng))[: len(x)]
    if rng.random() < 0.3:
        low = rng.uniform(50, 400)
        high = rng.uniform(3400, 11000)
        x = sosfilt(butter(4, [low, high], btype="band", fs=SAMPLE_RATE, output="sos"), x)
    if rng.random() < 0.4:
        snr_db = rng.uniform(15, 45)
        power = np.mean(x**2) + 1e-8
        x = x + rng.standard_normal(len(x)) * np.sqrt(power / 10 ** (snr_db / 10))
    peak = np.abs(x).max() + 1e-6
    level = 10 ** (rng.uniform(-30, -1) / 20)
    return (x / peak * level).astype(np.float32)


def training_batch(
    pool: np.ndarray,
    batch: int,
    length: int,
    rng: np.random.Generator,
    augment_prob: float = 0.7,
    scale_prob: float = 0.5,
) -> torch.Tensor:
    """A batch of crops [B, 1, length], half of them in scaled vocal tracts, most of them augmented."""
    crops = random_crops(pool, batch, length, rng, scale_prob)
    for i in range(batch):
        if rng.random() < augment_prob:
            crops[i, 0] = torch.from_numpy(augment(crops[i, 0].numpy(), rng))
    return crops
