"""Training and evaluation speech for the codec: a synthesized pool, random crops and augmentation.

The pool is synthesized once (cached as .npy under the data folder) from the sentence grammar in
`audio.sentences`, each sentence in a training speaker of the speaker pool (audio/speakers.py), with
the phone of every codec frame wherever the synthesizer reports its phones (audio/phones.py): the labels
that teach the first codebook the content. Held-out voices and sentences never enter training: flite
`slt` and a few espeak-ng variants and accents are reserved for evaluation. Augmentation makes the codec
robust to what a real microphone hears: level, small noise, room reverb and band-limiting.
"""

from __future__ import annotations

import hashlib
import logging
import math
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
from scipy.signal import butter, fftconvolve, resample_poly, sosfilt
from tqdm import tqdm

from audio.phones import NO_PHONE, frame_labels, supports_phones, synthesize_with_phones
from audio.sentences import sentences
from audio.speakers import speaker
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


FRAME_SIZE = 320  # samples per codec frame at 24 kHz (CodecConfig.frame_size); labels are per frame


@dataclass
class SpeechPool:
    """The codec's training speech: utterances end to end, each padded to whole codec frames.

    Attributes:
        audio: float32 [N] at 24 kHz, N a multiple of FRAME_SIZE.
        phones: int16 [N // FRAME_SIZE], the audio.phones.PHONES index of every frame (NO_PHONE: unknown).
    """

    audio: np.ndarray
    phones: np.ndarray


def _render(job: tuple[str, Voice]) -> tuple[np.ndarray, np.ndarray]:
    """One utterance padded to whole frames, and its frame phones (NO_PHONE where unknown)."""
    text, voice = job
    speech = synthesize_with_phones(text, voice) if supports_phones(voice) else None
    samples = speech.samples if speech else synthesize(text, voice)
    frames = -(-len(samples) // FRAME_SIZE)
    labels = (
        frame_labels(speech.phones, frames, SAMPLE_RATE / FRAME_SIZE)
        if speech
        else np.full(frames, NO_PHONE, np.int16)
    )
    return np.pad(samples, (0, frames * FRAME_SIZE - len(samples))), labels


def pool_voices(utterances: int, seed: int = 0) -> list[Voice]:
    """The voice of each of the pool's utterances: training speakers of the speaker pool
    (audio/speakers.py; thousands of voices), none of the codec's held-out ones. The speakers' own
    vocal-tract scales are left out: the crops scale half of the clips already."""
    voices = [speaker(seed * 1_000_003 + i, "train").voice for i in range(utterances)]
    return [v for v in voices if not is_held_out(v)]


def build_pool(folder: Path, utterances: int, seed: int = 0, jobs: int = 2) -> SpeechPool:
    """Synthesize (or load from `folder`) `utterances` training sentences with their frame phones.

    Sentences come from training seeds only and exclude the evaluation sentences.
    """
    voices = pool_voices(utterances, seed)
    voice_set = hashlib.sha256(" ".join(v.key for v in voices).encode()).hexdigest()[:8]
    path = folder / f"pool-{utterances}-{seed}-{voice_set}.npy"  # new voices make a new pool
    phones_path = path.with_suffix(".phones.npy")
    if path.exists() and phones_path.exists():
        return SpeechPool(np.load(path, mmap_mode="r"), np.load(phones_path))
    held_out = set(eval_sentences(200))
    texts = sentences(len(voices), seed=seed + 1, exclude=held_out)
    work = list(zip(texts, voices, strict=True))
    folder.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(jobs) as pool:
        rendered = list(tqdm(pool.map(_render, work, chunksize=16), total=len(work), desc="synthesizing"))
    audio = np.concatenate([clip for clip, _ in rendered]).astype(np.float32)
    phones = np.concatenate([labels for _, labels in rendered]).astype(np.int16)
    np.save(phones_path, phones)
    np.save(path, audio)
    labelled = float(np.mean(phones != NO_PHONE))
    log.info(
        "codec pool: %d utterances, %.1f minutes (%.0f %% of frames with phones) -> %s",
        len(rendered),
        len(audio) / SAMPLE_RATE / 60,
        100 * labelled,
        path,
    )
    return SpeechPool(audio, phones)


# Speech played faster or slower moves every formant, and the pitch, by the same factor: a cheap stand-in
# for the vocal tracts the pool lacks (women's and children's are shorter than men's): a codec trained
# without it lost even its own training voice once that voice's formants moved (docs/codec.md, "What an
# unseen voice loses"). Crops are short, so the change of duration is harmless.
VOCAL_TRACT_SCALES = (0.8, 1.3)


def _crop(audio: np.ndarray, start: int, length: int, scale: float) -> tuple[np.ndarray, Fraction]:
    """`length` samples from `start`, with frequencies multiplied by `scale` (1.0: a plain copy), and the
    exact factor used: output sample j is input sample j * factor."""
    if scale == 1.0:
        return audio[start : start + length], Fraction(1)
    ratio = Fraction(scale).limit_denominator(20)
    taken = audio[start : start + math.ceil(length * ratio) + 64]  # filter tail
    return resample_poly(taken, ratio.denominator, ratio.numerator)[:length], ratio


def _crop_phones(phones: np.ndarray, first_frame: int, frames: int, ratio: Fraction) -> np.ndarray:
    """The phone of each frame of a crop starting at `first_frame`, played `ratio` times faster."""
    source = first_frame + np.floor((np.arange(frames) + 0.5) * float(ratio)).astype(np.int64)
    return phones[np.minimum(source, len(phones) - 1)]


def random_crops(
    pool: SpeechPool, batch: int, length: int, rng: np.random.Generator, scale_prob: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """`batch` random crops of `length` samples (a whole number of frames) from the pool, skipping
    near-silent ones, and their frame phones: ([B, 1, length], int64 [B, length // FRAME_SIZE]).
    A `scale_prob` share of them have their formants and pitch scaled (VOCAL_TRACT_SCALES); crops start
    on frame boundaries so that the labels stay aligned."""
    frames = length // FRAME_SIZE
    out = np.empty((batch, length), dtype=np.float32)
    labels = np.empty((batch, frames), dtype=np.int64)
    span = math.ceil(length * VOCAL_TRACT_SCALES[1]) + 64
    for i in range(batch):
        for _ in range(10):
            first = int(rng.integers(0, (len(pool.audio) - span) // FRAME_SIZE))
            scale = rng.uniform(*VOCAL_TRACT_SCALES) if rng.random() < scale_prob else 1.0
            out[i], ratio = _crop(pool.audio, first * FRAME_SIZE, length, scale)
            labels[i] = _crop_phones(pool.phones, first, frames, ratio)
            if np.abs(out[i]).max() > 0.05:
                break
    return torch.from_numpy(out).unsqueeze(1), torch.from_numpy(labels)


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
    pool: SpeechPool,
    batch: int,
    length: int,
    rng: np.random.Generator,
    augment_prob: float = 0.7,
    scale_prob: float = 0.5,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of crops [B, 1, length], half of them in scaled vocal tracts, most of them augmented, and
    their frame phones [B, length // FRAME_SIZE]."""
    crops, phones = random_crops(pool, batch, length, rng, scale_prob)
    for i in range(batch):
        if rng.random() < augment_prob:
            crops[i, 0] = torch.from_numpy(augment(crops[i, 0].numpy(), rng))
    return crops, phones
