"""Mel spectrograms and the distances built on them: the codec's training loss and evaluation metrics."""

from __future__ import annotations

import functools

import numpy as np
import torch


@functools.lru_cache(maxsize=16)
def mel_filterbank(n_fft: int, n_mels: int, sample_rate: int) -> torch.Tensor:
    """Triangular HTK-mel filters, [n_mels, n_fft // 2 + 1], each filter normalised to unit area."""

    def hz_to_mel(f):
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def mel_to_hz(m):
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)

    bins = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sample_rate / 2), n_mels + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins[None] - lower) / (centre - lower)
    falling = (upper - bins[None]) / (upper - centre)
    filters = np.maximum(0.0, np.minimum(rising, falling))
    filters /= filters.sum(axis=1, keepdims=True) + 1e-8
    return torch.from_numpy(filters.astype(np.float32))


def mel_spectrogram(wav: torch.Tensor, n_fft: int, n_mels: int, sample_rate: int = 24000) -> torch.Tensor:
    """Magnitude mel spectrogram of `wav` [B, T] -> [B, n_mels, frames] with hop n_fft // 4."""
    window = torch.hann_window(n_fft, device=wav.device)
    spec = torch.stft(wav, n_fft, hop_length=n_fft // 4, window=window, return_complex=True).abs()
    return mel_filterbank(n_fft, n_mels, sample_rate).to(wav.device) @ spec


# Scales as in EnCodec's reconstruction loss: windows of 2^6..2^11 samples; fewer mel bands at the smallest
# windows, where there are too few frequency bins to fill 64 bands.
MEL_SCALES = [(2**i, min(64, 2 ** (i - 2))) for i in range(6, 12)]


def multiscale_mel_loss(
    target: torch.Tensor, estimate: torch.Tensor, sample_rate: int = 24000
) -> torch.Tensor:
    """Sum over scales of L1 between mel magnitudes plus L1 between their logs; inputs [B, T]."""
    total = target.new_zeros(())
    for n_fft, n_mels in MEL_SCALES:
        a = mel_spectrogram(target, n_fft, n_mels, sample_rate)
        b = mel_spectrogram(estimate, n_fft, n_mels, sample_rate)
        total = total + (a - b).abs().mean() + (torch.log(a + 1e-5) - torch.log(b + 1e-5)).abs().mean()
    return total / len(MEL_SCALES)


def mel_distance(reference: np.ndarray, estimate: np.ndarray, sample_rate: int = 24000) -> float:
    """Mean absolute log-mel difference (80 bands, 1024-sample window), natural-log units; lower is better."""
    n = min(len(reference), len(estimate))
    a = mel_spectrogram(torch.from_numpy(reference[None, :n]), 1024, 80, sample_rate)
    b = mel_spectrogram(torch.from_numpy(estimate[None, :n]), 1024, 80, sample_rate)
    return float((torch.log(a + 1e-5) - torch.log(b + 1e-5)).abs().mean())


def si_snr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Scale-invariant signal-to-noise ratio in dB (higher is better)."""
    n = min(len(reference), len(estimate))
    ref = reference[:n] - reference[:n].mean()
    est = estimate[:n] - estimate[:n].mean()
    target = (np.dot(est, ref) / (np.dot(ref, ref) + 1e-8)) * ref
    noise = est - target
    return float(10 * np.log10((np.dot(target, target) + 1e-8) / (np.dot(noise, noise) + 1e-8)))
