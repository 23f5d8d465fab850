"""The user side of `hark eval codec`: does the codec keep *what* a voice it never heard said?

One small probe, trained twice on speakers of the training split: once reading the codec's codes (the
sum of their codebook vectors, exactly what the codes convey) and once reading the original audio's
log-mel. Both are then scored on speakers of the test split (whole voices and a band of generated
variants training never hears, audio/speakers.py) speaking held-out sentences: frame phone accuracy,
the labels coming from the synthesizers' own timings (audio/phones.py). The log-mel probe is meant as
the reference for that probe size, the gap between the two as what the codes lose; at this size it is a
weak reference (a trained codec's codes can beat it, docs/codec.md), so compare codecs by their codes'
accuracy on one machine as well.
"""

from __future__ import annotations

import logging
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from audio import espeak_variants
from audio.codec_data import FRAME_SIZE, eval_sentences
from audio.phones import NO_PHONE, PHONES, frame_labels, supports_phones, synthesize_with_phones
from audio.sentences import sentences
from audio.speakers import Speaker, scale_tract, speaker
from audio.spectral import mel_spectrogram
from audio.tts import SAMPLE_RATE

log = logging.getLogger(__name__)

PROBE_SENTENCE_SEED = 4242  # the probe's training sentences (disjoint from the evaluation's)
MEL_BANDS = 80
FRAME_RATE = SAMPLE_RATE / FRAME_SIZE


@dataclass
class ProbeConfig:
    """Sizes of the phone probe (`hark eval codec` sets the two corpus sizes with --probe-train/-test)."""

    train_utterances: int = 400  # training-split utterances the probe learns from
    test_utterances: int = 150  # test-split utterances it is scored on
    context: int = 3  # frames of context each side of the labelled one
    hidden: int = 256
    steps: int = 1500
    batch: int = 512
    lr: float = 2e-3
    seed: int = 0


@dataclass
class Utterance:
    """One probe utterance: audio (a whole number of codec frames), frame labels and who spoke it."""

    samples: np.ndarray
    labels: np.ndarray  # int16 [frames], NO_PHONE where unknown
    group: str  # the kind of voice, for the per-voice table


def voice_group(who: Speaker) -> str:
    """`flite:slt`, `espeak-ng:en-us+f4`, or `espeak-ng:generated` for the generated variants."""
    voice = who.voice
    if voice.engine == "espeak-ng" and espeak_variants.variant_seed(voice.name) is not None:
        return "espeak-ng:generated"
    return f"{voice.engine}:{voice.name}"


def phone_speakers(split: str, count: int) -> list[Speaker]:
    """The first `count` speakers of `split` whose synthesizer reports its phones."""
    found, seed = [], 0
    while len(found) < count:
        who = speaker(seed, split)
        if supports_phones(who.voice):
            found.append(who)
        seed += 1
    return found


def render_utterance(job: tuple[str, Speaker]) -> Utterance:
    """`text` spoken by `who`, with the frame phone labels moved by its vocal-tract scale."""
    text, who = job
    spoken = synthesize_with_phones(text, who.voice)
    samples = scale_tract(spoken.samples, who.tract_scale)
    stretch = len(samples) / max(1, len(spoken.samples))
    samples = np.pad(samples, (0, -len(samples) % FRAME_SIZE)).astype(np.float32)
    phones = [(p, start * stretch, end * stretch) for p, start, end in spoken.phones]
    return Utterance(samples, frame_labels(phones, len(samples) // FRAME_SIZE, FRAME_RATE), voice_group(who))


def probe_corpus(split: str, count: int, jobs: int = 2) -> list[Utterance]:
    """`count` utterances of `split`: training sentences for "train", the held-out ones for "test"."""
    held_out = eval_sentences(count)
    texts = held_out if split == "test" else sentences(count, PROBE_SENTENCE_SEED, exclude=set(held_out))
    work = list(zip(texts, phone_speakers(split, count), strict=True))
    with ProcessPoolExecutor(jobs) as pool:
        return list(pool.map(render_utterance, work, chunksize=4))


@torch.inference_mode()
def code_features(codec, samples: np.ndarray) -> np.ndarray:
    """What the codes carry, frame by frame: the sum of their codebook vectors, float32 [frames, D]."""
    codes = torch.from_numpy(codec.encode(samples))
    return codec.dequantize(codes).float().numpy()


@torch.inference_mode()
def mel_features(samples: np.ndarray) -> np.ndarray:
    """Log-mel of the original audio at the codec's frame rate, float32 [frames, MEL_BANDS]."""
    frames = len(samples) // FRAME_SIZE
    mel = mel_spectrogram(torch.from_numpy(samples)[None], 4 * FRAME_SIZE, MEL_BANDS)[0, :, :frames]
    return torch.log(mel.clamp_min(1e-5)).T.contiguous().numpy()


def _stack_context(features: np.ndarray, context: int) -> np.ndarray:
    """Each frame, normalised over its utterance, with `context` frames either side (edges repeated):
    [frames, (2c + 1) * D]. The per-utterance mean and variance normalisation (CMVN, as ASR front ends
    do) takes out much of what is the speaker's and not the phone's, for both inputs alike; without it
    the log-mel probe generalised worse to new voices than the codes probe and was no ceiling."""
    features = (features - features.mean(0)) / (features.std(0) + 1e-5)
    padded = np.pad(features, ((context, context), (0, 0)), mode="edge")
    n = len(features)
    return np.concatenate([padded[i : i + n] for i in range(2 * context + 1)], axis=1)


def _dataset(features: list[np.ndarray], utterances: list[Utterance], context: int):
    x = np.concatenate([_stack_context(f, context) for f in features])
    y = np.concatenate([u.labels[: len(f)] for f, u in zip(features, utterances, strict=True)]).astype(
        np.int64
    )
    who = np.concatenate([[u.group] * len(f) for f, u in zip(features, utterances, strict=True)])
    keep = y != NO_PHONE
    return x[keep], y[keep], who[keep]


def train_probe(x: np.ndarray, y: np.ndarray, cfg: ProbeConfig) -> nn.Module:
    """A two-layer MLP phone classifier over standardised frames, trained on (x, y)."""
    gen = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    mean, std = x.mean(0), x.std(0) + 1e-5
    probe = nn.Sequential(
        _Standardise(torch.from_numpy(mean), torch.from_numpy(std)),
        nn.Linear(x.shape[1], cfg.hidden),
        nn.GELU(),
        nn.Linear(cfg.hidden, len(PHONES)),
    )
    opt = torch.optim.AdamW(probe.parameters(), lr=cfg.lr, weight_decay=0.01)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for step in range(cfg.steps):
        idx = torch.randint(len(xt), (cfg.batch,), generator=gen)
        for group in opt.param_groups:
            group["lr"] = cfg.lr * (1 - step / cfg.steps)
        loss = nn.functional.cross_entropy(probe(xt[idx]), yt[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return probe.eval()


class _Standardise(nn.Module):
    def __init__(self, mean: torch.Tensor, std: torch.Tensor):
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


@torch.inference_mode()
def _accuracy(probe: nn.Module, x: np.ndarray, y: np.ndarray, who: np.ndarray) -> dict:
    right = (probe(torch.from_numpy(x)).argmax(-1).numpy() == y).astype(np.float64)
    per_voice = {g: round(float(right[who == g].mean()), 4) for g in sorted(set(who))}
    return {"accuracy": float(right.mean()), "frames": int(len(y)), "per_voice": per_voice}


def phone_probe_report(codec, cfg: ProbeConfig, jobs: int = 2) -> dict:
    """Frame phone accuracy on test-split speakers of the probe reading codes vs. reading log-mel."""
    train = probe_corpus("train", cfg.train_utterances, jobs)
    test = probe_corpus("test", cfg.test_utterances, jobs)
    report = {"train_utterances": len(train), "test_utterances": len(test)}
    for name, featurise in (("codes", lambda s: code_features(codec, s)), ("log_mel", mel_features)):
        x, y, _ = _dataset([featurise(u.samples) for u in train], train, cfg.context)
        probe = train_probe(x, y, cfg)
        report[name] = _accuracy(probe, *_dataset([featurise(u.samples) for u in test], test, cfg.context))
        log.info("phone probe on %s: %.1f %% of test frames", name, 100 * report[name]["accuracy"])
    report["gap_points"] = 100 * (report["log_mel"]["accuracy"] - report["codes"]["accuracy"])
    return report
