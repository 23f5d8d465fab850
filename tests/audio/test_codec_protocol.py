"""The codec interface: the EnCodec-based `Codec` is a `SpeechCodec`, and its geometry matches its codes."""

import numpy as np

from audio.codec import Codec, DecoderStream, EncoderStream, SpeechCodec, build_codec
from audio.codec_config import CodecConfig

SMALL = CodecConfig(n_filters=4, lstm_layers=0)


def test_codec_implements_the_speech_codec_protocol():
    """A built Codec and its streams have every member the rest of hark uses."""
    codec: SpeechCodec = build_codec(SMALL)
    assert isinstance(codec, SpeechCodec) and isinstance(codec, Codec)
    assert isinstance(codec.stream_encoder(), EncoderStream)
    assert isinstance(codec.stream_decoder(), DecoderStream)


def test_geometry_describes_the_codes():
    """Each frame_size samples give one code per codebook, in [0, cardinality), decoding to frame_size."""
    codec: SpeechCodec = build_codec(SMALL)
    frames = 6
    wav = (0.1 * np.random.default_rng(0).standard_normal(frames * codec.frame_size)).astype(np.float32)
    codes = codec.encode(wav)
    assert codes.shape == (codec.num_codebooks, frames)
    assert codes.min() >= 0 and codes.max() < codec.cardinality
    assert codec.decode(codes).shape == (frames * codec.frame_size,)
    assert codec.frame_rate == codec.sample_rate / codec.frame_size
