"""Render a dialogue's two channels (user microphone, assistant speaker) on one timeline, with augmentation.

The user's channel gets the dialogue's `Augment`: synthetic room reverb (exponentially decaying noise
impulse response), band-limiting, a speech level, and continuous background noise (white, pink or brown)
at a signal-to-noise ratio. The assistant's channel is its clean speech, silenced after a barge-in cut
with a 5 ms fade so the cut does not click.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import butter, fftconvolve, sosfilt

from audio.tts import SAMPLE_RATE
from engine.data.dialogue import STEP_SAMPLES, Augment, Placed, Timeline

_FADE = SAMPLE_RATE // 200  # 5 ms


def piece_audio(placed: Placed) -> np.ndarray:
    """The audible samples of one placed piece of speech (cut and faded out if it was interrupted)."""
    wav = placed.speech.wav[: placed.end - placed.offset].copy()
    if placed.cut is not None and placed.cut < len(placed.speech.wav):
        fade = min(_FADE, len(wav))
        wav[len(wav) - fade :] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    return wav


def _track(pieces: list[Placed], num_samples: int) -> np.ndarray:
    """Sum the placed speech into one float32 track."""
    track = np.zeros(num_samples, dtype=np.float32)
    for p in pieces:
        wav = piece_audio(p)
        track[p.offset : p.offset + len(wav)] += wav[: max(num_samples - p.offset, 0)]
    return track


def room_impulse(rng: np.random.Generator, rt60_s: float) -> np.ndarray:
    """A synthetic room impulse response: a direct path plus noise decaying by 60 dB over `rt60_s`."""
    n = int(rt60_s * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    tail = rng.standard_normal(n) * np.exp(-6.9 * t / rt60_s)  # exp(-6.9) = -60 dB
    tail[: SAMPLE_RATE // 200] = 0.0  # first reflections arrive after ~5 ms
    ir = 0.3 * tail / np.sqrt((tail**2).sum() + 1e-12)
    ir[0] = 1.0
    return ir.astype(np.float32)


def colored_noise(rng: np.random.Generator, n: int, color: str) -> np.ndarray:
    """Unit-RMS noise with a 1/f^0 (white), 1/f (pink) or 1/f^2 (brown) power spectrum."""
    exponent = {"white": 0.0, "pink": 1.0, "brown": 2.0}[color]
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n)
    freqs[0] = freqs[1] if n > 1 else 1.0
    noise = np.fft.irfft(spectrum / freqs ** (exponent / 2), n)
    return (noise / (np.sqrt((noise**2).mean()) + 1e-12)).astype(np.float32)


def _speech_rms(track: np.ndarray) -> float:
    """RMS over the active part (frames above 1% of the peak frame), so silences do not dilute it."""
    frames = track[: len(track) // STEP_SAMPLES * STEP_SAMPLES].reshape(-1, STEP_SAMPLES)
    energy = (frames**2).mean(axis=1)
    active = energy[energy > 0.01 * energy.max()] if energy.max() > 0 else energy
    return float(np.sqrt(active.mean() + 1e-12))


def augment_user(track: np.ndarray, augment: Augment, rng: np.random.Generator) -> np.ndarray:
    """Apply reverb, band-limiting, level and background noise to the user's dry speech track."""
    out = track
    if augment.rt60_s is not None:
        out = fftconvolve(out, room_impulse(rng, augment.rt60_s))[: len(track)]
    if augment.band_hz is not None:
        sos = butter(4, augment.band_hz, btype="bandpass", fs=SAMPLE_RATE, output="sos")
        out = sosfilt(sos, out)
    out = out * (10 ** (augment.level_db / 20) / _speech_rms(out))
    if augment.snr_db is not None:
        noise_rms = 10 ** ((augment.level_db - augment.snr_db) / 20)
        out = out + noise_rms * colored_noise(rng, len(out), augment.noise_color)
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def render(timeline: Timeline, augment: Augment, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(user, assistant) float32 [num_steps * 1280] each; deterministic for a given `seed`."""
    n = timeline.num_steps * STEP_SAMPLES
    rng = np.random.default_rng(seed)
    user = augment_user(_track(timeline.user, n), augment, rng)
    return user, _track(timeline.assistant, n)
