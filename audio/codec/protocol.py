"""What the rest of hark needs of a speech codec: `SpeechCodec` and its two kinds of stream.

A codec turns mono float32 audio at `sample_rate` into `num_codebooks` streams of integer codes in
[0, cardinality), one code per stream per `frame_size` samples, and back. The engine and the service use
nothing else, so a new codec implements these members (typing checks it structurally; no base class) and
`build`/`load` functions beside it; audio/codec/encodec_codec.py is the one hark ships.

Geometry, for the shipped EnCodec codec at 3 kbps: 24000 Hz, 320 samples per frame (75 frames a
second), 4 codebooks of 1024 codes. An engine step reads `frames_per_step` frames of every codebook.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class EncoderStream(Protocol):
    """Audio chunks in, codes out, carrying state between calls (one stream per conversation side)."""

    def reset(self) -> None:
        """Start a new stream, as if from silence."""
        ...

    def encode(self, pcm: np.ndarray) -> np.ndarray:
        """float32 [n * frame_size] -> int64 codes [num_codebooks, n]; n >= 0 whole frames per call."""
        ...


@runtime_checkable
class DecoderStream(Protocol):
    """Codes in, audio chunks out, carrying state between calls."""

    def reset(self) -> None:
        """Start a new stream."""
        ...

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """Integer codes [K, n] (K <= num_codebooks) -> float32 [n * frame_size]."""
        ...


@runtime_checkable
class SpeechCodec(Protocol):
    """A streaming speech codec at one bitrate.

    Attributes:
        sample_rate: audio samples per second, in and out.
        frame_size: samples per code frame.
        frame_rate: frames per second (`sample_rate / frame_size`).
        num_codebooks: code streams at this bitrate (K).
        cardinality: codes per codebook; codes lie in [0, cardinality).
        codes_id: what decides the codes: data encoded by one codec is valid for any codec with the same
            `codes_id` (an engine is trained on one).
    """

    sample_rate: int
    frame_size: int
    frame_rate: float
    num_codebooks: int
    cardinality: int
    codes_id: str

    def encode(self, wav: np.ndarray) -> np.ndarray:
        """One-shot encode: float32 [T], T a multiple of `frame_size` -> int64 codes [K, T // frame_size]."""
        ...

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """One-shot decode: integer codes [K, F] -> float32 [F * frame_size]."""
        ...

    def stream_encoder(self) -> EncoderStream:
        """A new encoder stream with its own state."""
        ...

    def stream_decoder(self) -> DecoderStream:
        """A new decoder stream with its own state."""
        ...
