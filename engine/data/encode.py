"""Encode a dialogue's two channels to codec tokens, with an on-disk cache.

The codec is named by a model spec (engine/model_spec.py): `random:full` (a seeded random codec of the
shipped architecture, so the pipeline runs before the codec is trained), `default` (`load_codec()`'s
search), or a checkpoint path. Codes are cached under
`<cache>/codes/<codec id>/`, keyed by the dialogue's content hash, so switching codecs re-encodes without
re-synthesizing, and rerunning with the same codec does nothing.

Each channel is encoded as one stream starting from silence, as the live microphone and speaker streams
are. The user's channel (continuous background noise) is encoded whole. The assistant's channel is
digital silence except for its answers, and encoding is the most expensive part of synthesis, so it is
assembled: the codes of a stream of silence, overwritten at each answer by the codes of that answer
encoded with PAD_FRAMES of silence before (dropped; by then the encoder state has settled to silence)
and after it (kept: the encoder's return to silence). Answers repeat across dialogues, so their codes
are cached by audio content. With the random codec the result equals encoding the whole channel in more
than 99 % of frames (the rest are float near-ties between two codes; tests/engine/test_data.py).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audio.codec import Codec
from engine.data.dialogue import STEP_SAMPLES, Timeline
from engine.data.render import piece_audio
from engine.model_spec import codec_from_spec

KBPS = 3.0
PAD_FRAMES = 40  # 0.53 s; the random codec's encoder settles to silence within ~10 frames


@dataclass
class CodecHandle:
    """A codec and a stable identifier of its codes (`Codec.codes_id`: goes into dataset.json, the engine
    checkpoint and the cache path)."""

    codec: Codec
    codec_id: str
    silence: np.ndarray | None = None  # codes of a stream of silence, computed once


def open_codec(spec: str) -> CodecHandle:
    """Build or load the codec a model spec names (engine/model_spec.py: `default`, `random:full`, a path).

    Raises:
        FileNotFoundError: no checkpoint where `spec` points (the message says how to make one).
        ValueError: a malformed spec.
    """
    codec = codec_from_spec(spec, kbps=KBPS)
    return CodecHandle(codec, codec.codes_id)


def _cached(path: Path | None, make: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Load arrays from `path` if it exists, else make, store (atomically) and return them."""
    if path is not None and path.exists():
        with np.load(path) as data:
            return dict(data)
    arrays = make()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.npz")
        np.savez(tmp, **arrays)
        tmp.replace(path)
    return arrays


def _settled_silence(handle: CodecHandle) -> np.ndarray:
    """Codes of a stream of silence long enough for the encoder to settle, int64 [K, 4 * PAD_FRAMES]."""
    if handle.silence is None:
        handle.silence = handle.codec.encode(np.zeros(4 * PAD_FRAMES * handle.codec.frame_size, np.float32))
    return handle.silence


def silence_column(handle: CodecHandle) -> np.ndarray:
    """The steady-state codes of digital silence, int64 [K]."""
    return _settled_silence(handle)[:, -1]


def _silence_codes(handle: CodecHandle, frames: int) -> np.ndarray:
    """Codes of a stream of `frames` frames of digital silence, int16 [K, frames]."""
    settle = _settled_silence(handle)
    codes = np.repeat(settle[:, -1:], frames, axis=1)
    n = min(frames, settle.shape[1])
    codes[:, :n] = settle[:, :n]  # the stream's start-up transient
    return codes.astype(np.int16)


def _segment_codes(handle: CodecHandle, wav: np.ndarray, cache: Path | None) -> np.ndarray:
    """Codes of `wav` (starting on a frame boundary) followed by PAD_FRAMES of silence, as if preceded by
    a long silence; int16 [K, ceil(len / frame) + PAD_FRAMES]."""
    frame = handle.codec.frame_size
    key = hashlib.sha256(wav.tobytes()).hexdigest()
    path = cache / "segments" / handle.codec_id / key[:2] / f"{key}.npz" if cache is not None else None

    def make() -> dict[str, np.ndarray]:
        body = -(-len(wav) // frame) * frame
        padded = np.zeros(PAD_FRAMES * frame + body + PAD_FRAMES * frame, np.float32)
        padded[PAD_FRAMES * frame : PAD_FRAMES * frame + len(wav)] = wav
        return {"codes": handle.codec.encode(padded)[:, PAD_FRAMES:].astype(np.int16)}

    return _cached(path, make)["codes"]


def assistant_codes(handle: CodecHandle, timeline: Timeline, cache: Path | None) -> np.ndarray:
    """The assistant channel's codes, int16 [K, F], assembled from silence and per-answer codes."""
    frame = handle.codec.frame_size
    frames = timeline.num_steps * STEP_SAMPLES // frame
    codes = _silence_codes(handle, frames)
    for placed in timeline.assistant:
        segment = _segment_codes(handle, piece_audio(placed), cache)
        start = placed.offset // frame  # answers start on step (hence frame) boundaries
        n = min(segment.shape[1], frames - start)
        codes[:, start : start + n] = segment[:, :n]
    return codes


def encode_channels(
    handle: CodecHandle, user: np.ndarray, timeline: Timeline, key: str, cache: Path | None
) -> tuple[np.ndarray, np.ndarray]:
    """(user_codes, asst_codes), each int16 [K, F] for a timeline of F / G steps.

    Args:
        handle: the codec.
        user: the rendered user channel, float32 [F * 320].
        timeline: the dialogue's timeline (the assistant's answers are encoded from it).
        key: identifies the dialogue (its content hash) for the cache.
        cache: cache folder, or None to always encode.
    """
    path = cache / "codes" / handle.codec_id / f"{key}.npz" if cache is not None else None

    def make() -> dict[str, np.ndarray]:
        user_codes = handle.codec.encode(user).astype(np.int16)
        return {"user": user_codes, "assistant": assistant_codes(handle, timeline, cache)}

    arrays = _cached(path, make)
    return arrays["user"], arrays["assistant"]
