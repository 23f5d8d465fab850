"""Streaming codec: chunked streams equal one-shot runs exactly, and both match the encodec model offline."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audio.codec import build_codec
from audio.codec_config import CodecConfig
from audio.encodec_compat import encodec
from audio.tts import Voice, synthesize

FRAME = 320


def _whole_frames(wav: np.ndarray) -> np.ndarray:
    return wav[: len(wav) // FRAME * FRAME].astype(np.float32)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: bounded time on a shared 2-core machine (one test checks 2 threads)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def small_codec():
    """A random codec narrow enough (8 base filters) to stream hundreds of frames in a second."""
    return build_codec(CodecConfig(n_filters=8))


@pytest.fixture(scope="module")
def signals() -> dict[str, np.ndarray]:
    """Real espeak-ng speech (started mid-word, so the stream does not begin in silence) and noise."""
    speech = synthesize(
        "Seventeen plus five is twenty two, said the quick brown fox.", Voice("espeak-ng", "en-us")
    )
    noise = 0.1 * np.random.default_rng(0).standard_normal(50 * FRAME)
    return {"speech": _whole_frames(speech[1000 : 1000 + 150 * FRAME]), "noise": _whole_frames(noise)}


def _stream(codec, wav: np.ndarray, sizes: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Encode `wav` in chunks of the given frame counts (cycled), decoding each chunk's codes at once."""
    encoder, decoder = codec.stream_encoder(), codec.stream_decoder()
    codes, audio, start, i = [], [], 0, 0
    while start < len(wav):
        chunk = wav[start : start + sizes[i % len(sizes)] * FRAME]
        codes.append(encoder.encode(chunk))
        audio.append(decoder.decode(codes[-1]))
        start, i = start + len(chunk), i + 1
    return np.concatenate(codes, axis=1), np.concatenate(audio)


def _encodec_offline(codec, wav: np.ndarray) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """The encodec model's own forward with zero left padding: (latent [D, F], codes [K, F], audio)."""
    model = codec.model
    convs = [m for m in model.modules() if isinstance(m, encodec.modules.SConv1d)]
    modes = [m.pad_mode for m in convs]
    try:
        for m in convs:
            m.pad_mode = "constant"
        with torch.inference_mode():
            latent = model.encoder(torch.from_numpy(wav).view(1, 1, -1))  # [1, D, F]
            codes = model.quantizer.encode(latent, codec.frame_rate, codec.kbps)  # [K, 1, F]
            audio = model.decoder(model.quantizer.decode(codes))  # [1, 1, F * 320]
    finally:
        for m, mode in zip(convs, modes, strict=True):
            m.pad_mode = mode
    return latent[0], codes[:, 0].numpy(), audio.reshape(-1).numpy()


@pytest.mark.parametrize("frames", [1, 2, 3, 4, 7])
@pytest.mark.parametrize("kind", ["speech", "noise"])
def test_stream_equals_one_shot(small_codec, signals, kind, frames):
    """Chunks of any whole number of frames give exactly the one-shot codes and audio."""
    wav = signals[kind]
    codes, audio = _stream(small_codec, wav, [frames])
    one_shot = small_codec.encode(wav)
    assert codes.shape == (4, len(wav) // FRAME) and codes.dtype == np.int64
    np.testing.assert_array_equal(codes, one_shot)
    np.testing.assert_allclose(audio, small_codec.decode(one_shot), rtol=0, atol=1e-6)


def test_irregular_chunks_equal_one_shot(small_codec, signals):
    """With 2 threads, calls carrying varying frame counts (including 0) still match one-shot exactly."""
    wav = signals["speech"][: 60 * FRAME]
    torch.set_num_threads(2)
    try:
        codes, audio = _stream(small_codec, wav, [1, 0, 5, 2, 1, 3, 7, 4])
        np.testing.assert_array_equal(codes, small_codec.encode(wav))
        np.testing.assert_allclose(audio, small_codec.decode(codes), rtol=0, atol=1e-6)
    finally:
        torch.set_num_threads(1)


def test_codes_are_varied(small_codec, signals):
    """The random test codec uses many codebook entries on speech, so equality checks mean something."""
    codes = small_codec.encode(signals["speech"])
    assert all(len(np.unique(row)) > 20 for row in codes)


@pytest.mark.parametrize("kind", ["speech", "noise"])
def test_matches_encodec_forward(small_codec, signals, kind):
    """Folded weights and streaming layers reproduce encodec's own encoder, quantizer and decoder."""
    wav = signals[kind]
    latent, _, _ = _encodec_offline(small_codec, wav)
    ours = small_codec.encode(wav)
    with torch.inference_mode():
        ref_codes = small_codec.model.quantizer.encode(latent[None], 75, small_codec.kbps)[:, 0].numpy()
        ref_audio = small_codec.model.decoder(
            small_codec.model.quantizer.decode(torch.from_numpy(ours)[:, None])
        )
        our_latent = small_codec._encoder.fresh()(torch.from_numpy(wav).view(1, -1, 1))[0].t()
    scale = float(latent.abs().max())
    np.testing.assert_allclose(our_latent.numpy(), latent.numpy(), rtol=0, atol=1e-5 * scale)
    assert (ours == ref_codes).mean() > 0.9  # the rest are near-ties flipped by float rounding
    np.testing.assert_array_equal(small_codec.quantize(latent.t()).numpy(), ref_codes)
    np.testing.assert_allclose(small_codec.decode(ours), ref_audio.reshape(-1).numpy(), rtol=0, atol=1e-5)


def test_reflect_model_streams_from_zero_history(signals):
    """A reflect-padded model streams as its zero-padded forward, which differs from reflect only early."""
    codec = build_codec(CodecConfig(n_filters=8, pad_mode="reflect"), seed=1)
    wav = signals["speech"]
    codes, audio = _stream(codec, wav, [3])
    np.testing.assert_array_equal(codes, codec.encode(wav))
    _, _, zero_padded_audio = _encodec_offline(codec, wav)
    np.testing.assert_allclose(audio, zero_padded_audio, rtol=0, atol=1e-5)
    with torch.inference_mode():
        reflect_latent = codec.model.encoder(torch.from_numpy(wav).view(1, 1, -1))[0]
    zero_latent, _, _ = _encodec_offline(codec, wav)
    gap = ((reflect_latent - zero_latent).norm(dim=0) / zero_latent.norm(dim=0)).numpy()
    assert gap[0] > 0.1 and np.median(gap[10:]) < 0.01


def test_default_config_streams_exactly(signals):
    """The default (official-size) architecture also streams 4-frame chunks bit-exactly."""
    codec = build_codec(CodecConfig())
    wav = signals["speech"][: 60 * FRAME]
    codes, audio = _stream(codec, wav, [4, 1])
    np.testing.assert_array_equal(codes, codec.encode(wav))
    np.testing.assert_allclose(audio, codec.decode(codes), rtol=0, atol=1e-6)
    _, _, ref_audio = _encodec_offline(codec, wav)
    np.testing.assert_allclose(audio, ref_audio, rtol=0, atol=1e-5)


def test_reset_and_independent_streams(small_codec, signals):
    """reset() restarts a stream from silence, and two interleaved streams do not share state."""
    wav = signals["noise"][: 12 * FRAME]
    first, second = small_codec.stream_encoder(), small_codec.stream_encoder()
    a = [first.encode(wav[i : i + 2 * FRAME]) for i in range(0, len(wav), 2 * FRAME)]
    b = [second.encode(wav[i : i + 2 * FRAME]) for i in range(0, len(wav), 2 * FRAME)]
    np.testing.assert_array_equal(np.concatenate(a, 1), np.concatenate(b, 1))
    first.reset()
    np.testing.assert_array_equal(first.encode(wav), small_codec.encode(wav))


@pytest.mark.parametrize(("kbps", "codebooks"), [(1.5, 2), (3.0, 4), (6.0, 8)])
def test_bitrate_selects_codebooks(kbps, codebooks, signals):
    """1.5/3/6 kbps use 2/4/8 codebooks, and lower-rate codes are a prefix of higher-rate ones."""
    codec = build_codec(CodecConfig(n_filters=8), kbps=kbps)
    full = build_codec(CodecConfig(n_filters=8), kbps=6.0)
    wav = signals["noise"][: 8 * FRAME]
    assert codec.num_codebooks == codebooks
    np.testing.assert_array_equal(codec.encode(wav), full.encode(wav)[:codebooks])
    assert codec.decode(full.encode(wav)[:2]).shape == (8 * FRAME,)


def test_bad_inputs_are_rejected(small_codec):
    """Partial frames, stereo input, out-of-range codes and unsupported bitrates raise clear errors."""
    with pytest.raises(ValueError, match="multiple of 320"):
        small_codec.encode(np.zeros(500, dtype=np.float32))
    with pytest.raises(ValueError, match="mono"):
        small_codec.stream_encoder().encode(np.zeros((2, 320), dtype=np.float32))
    with pytest.raises(ValueError, match=r"\[0, 1024\)"):
        small_codec.decode(np.full((4, 2), 1024))
    with pytest.raises(ValueError, match="K <= 8"):
        small_codec.decode(np.zeros((9, 2), dtype=np.int64))
    with pytest.raises(ValueError, match="codebooks"):
        build_codec(CodecConfig(n_filters=8), kbps=12.0)
    assert small_codec.decode(np.zeros((4, 0), dtype=np.int64)).shape == (0,)
