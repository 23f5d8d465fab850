"""Mel losses and fidelity metrics behave as distances should."""

import numpy as np
import torch

from audio.spectral import mel_distance, mel_filterbank, multiscale_mel_loss, si_snr


def _speechlike(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(24000) / 24000
    return (
        0.3 * np.sin(2 * np.pi * 220 * t) * np.sin(2 * np.pi * 3 * t) + 0.02 * rng.standard_normal(24000)
    ).astype(np.float32)


def test_filterbank_rows_are_normalised_triangles():
    """Every mel filter is non-negative and sums to one."""
    fb = mel_filterbank(1024, 80, 24000)
    assert fb.shape == (80, 513)
    assert (fb >= 0).all()
    assert torch.allclose(fb.sum(1), torch.ones(80), atol=1e-4)


def test_identical_signals_have_zero_distance():
    """A signal is at distance zero from itself and farther from a noisier copy."""
    x = _speechlike()
    noisy = x + 0.05 * np.random.default_rng(1).standard_normal(len(x)).astype(np.float32)
    assert mel_distance(x, x) < 1e-6
    assert mel_distance(x, noisy) > 0.1
    loss_same = multiscale_mel_loss(torch.from_numpy(x)[None], torch.from_numpy(x)[None])
    loss_noisy = multiscale_mel_loss(torch.from_numpy(x)[None], torch.from_numpy(noisy)[None])
    assert float(loss_same) < 1e-6 < float(loss_noisy)


def test_si_snr_ignores_scale_and_tracks_noise():
    """Scaling the estimate does not change SI-SNR; adding noise at 10 dB SNR gives about 10 dB."""
    x = _speechlike()
    assert si_snr(x, 0.5 * x) > 60
    noise = np.random.default_rng(2).standard_normal(len(x)).astype(np.float32)
    noise *= np.sqrt(np.mean(x**2) / np.mean(noise**2) / 10)
    assert abs(si_snr(x, x + noise) - 10) < 0.5
