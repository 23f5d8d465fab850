"""The spectral (frame-rate inverse-STFT) decoder: streams equal one-shot decodes, the training forward
agrees with them, it is causal, and it round-trips through a checkpoint."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audio.codec import build_codec, load_codec
from audio.codec_checkpoint import save_checkpoint
from audio.codec_config import CodecConfig

FRAME = 320
CONFIG = CodecConfig(n_filters=4, lstm_layers=0, decoder="spectral", decoder_width=32, decoder_blocks=2)


@pytest.fixture(scope="module")
def codec():
    torch.set_num_threads(1)
    return build_codec(CONFIG, kbps=3.0)


@pytest.fixture(scope="module")
def codes(codec) -> np.ndarray:
    wav = 0.1 * np.random.default_rng(0).standard_normal(40 * FRAME).astype(np.float32)
    return codec.encode(wav)


@pytest.mark.parametrize("sizes", [[1], [2, 3], [4], [5, 1, 7]])
def test_stream_equals_one_shot(codec, codes, sizes):
    """Decoding chunk by chunk (any whole number of frames per call) gives the one-shot audio exactly."""
    decoder, audio, start, i = codec.stream_decoder(), [], 0, 0
    while start < codes.shape[1]:
        audio.append(decoder.decode(codes[:, start : start + sizes[i % len(sizes)]]))
        start, i = start + sizes[i % len(sizes)], i + 1
    streamed, whole = np.concatenate(audio), codec.decode(codes)
    assert streamed.shape == whole.shape == (codes.shape[1] * FRAME,)
    np.testing.assert_array_equal(streamed, whole)


def test_training_forward_matches_the_stream(codec, codes):
    """The module's forward (the training path, channel-major like SEANetDecoder) decodes the same audio."""
    model = codec.model
    with torch.no_grad():
        latent = model.quantizer.decode(torch.from_numpy(codes)[:, None])  # [1, D, F]
        audio = model.decoder(latent)
    assert audio.shape == (1, 1, codes.shape[1] * FRAME)
    np.testing.assert_allclose(audio.reshape(-1).numpy(), codec.decode(codes), atol=1e-5)


def test_decoder_is_causal(codec, codes):
    """Changing the codes of frame t leaves every sample before frame t as it was."""
    changed = codes.copy()
    changed[:, 20:] = (changed[:, 20:] + 1) % codec.cardinality
    a, b = codec.decode(codes), codec.decode(changed)
    np.testing.assert_array_equal(a[: 20 * FRAME], b[: 20 * FRAME])
    assert not np.allclose(a[20 * FRAME :], b[20 * FRAME :])


def test_checkpoint_round_trip(tmp_path, codec, codes):
    """The decoder kind and its weights survive save and load."""
    path = tmp_path / "codec.safetensors"
    save_checkpoint(codec.model, path, CONFIG, "random weights (test)")
    loaded = load_codec(path)
    assert loaded.config.decoder == "spectral" and loaded.codes_id == codec.codes_id
    np.testing.assert_array_equal(loaded.decode(codes), codec.decode(codes))
