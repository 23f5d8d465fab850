"""The speech codec: `SpeechCodec` (what hark needs of one) and `Codec`, the EnCodec-based one it ships.

To add a codec, implement `SpeechCodec` (audio/codec/protocol.py) in a module of this package, beside
encodec_codec.py, with functions that build and load it. Every other module imports codecs from here.
"""

from audio.codec.encodec_codec import (
    Codec,
    StreamingDecoder,
    StreamingEncoder,
    build_codec,
    init_random_codebooks,
    load_codec,
)
from audio.codec.protocol import DecoderStream, EncoderStream, SpeechCodec

__all__ = [
    "Codec",
    "DecoderStream",
    "EncoderStream",
    "SpeechCodec",
    "StreamingDecoder",
    "StreamingEncoder",
    "build_codec",
    "init_random_codebooks",
    "load_codec",
]
