"""Per-session media helpers: the input buffer the engine consumes, and the codec/VAD streams.

`SessionMedia` methods do the numeric work (codec encode/decode, silero-vad) and run in the server's
worker threads, never on the event loop; one session calls them one at a time.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from audio.codec import Codec
from audio.vad import SileroVad


class InputBuffer:
    """Input the engine has not consumed yet, along the last axis (samples [n], or codes [K, n]).

    Args:
        silence: one unit of padding: a 0-d array for PCM (zeros), or the [K] silence codes.
    """

    def __init__(self, silence: np.ndarray):
        self.silence = silence
        self.parts: deque[np.ndarray] = deque()
        self.size = 0

    def push(self, data: np.ndarray) -> None:
        self.parts.append(data)
        self.size += data.shape[-1]

    def pop(self, n: int, pad: bool = False) -> np.ndarray:
        """The oldest n units (fewer if there are fewer); with pad, topped up with silence to n."""
        taken, got = [], 0
        while self.parts and got < n:
            part = self.parts.popleft()
            if part.shape[-1] > n - got:
                part, rest = part[..., : n - got], part[..., n - got :]
                self.parts.appendleft(rest)
            taken.append(part)
            got += part.shape[-1]
        self.size -= got
        if pad and got < n:
            taken.append(self._silence(n - got))
        return np.concatenate(taken, axis=-1) if taken else self._silence(0)

    def drop_tail(self, n: int) -> None:
        """Forget the newest n units."""
        while self.parts and n > 0:
            part = self.parts.pop()
            if part.shape[-1] > n:
                self.parts.append(part[..., : part.shape[-1] - n])
            dropped = min(n, part.shape[-1])
            self.size -= dropped
            n -= dropped

    def pad_to(self, unit: int) -> None:
        """Append silence up to a whole number of `unit`s."""
        if self.size % unit:
            self.push(self._silence(unit - self.size % unit))

    def _silence(self, n: int) -> np.ndarray:
        if self.silence.ndim:
            return np.repeat(self.silence[..., None], n, axis=-1)  # [K, n]
        return np.zeros(n, np.float32)


class SessionMedia:
    """A session's codec streams and VAD stream; its methods run in the executor, one call at a time."""

    def __init__(self, codec: Codec, vad: SileroVad):
        self.encoder, self.decoder, self.vad = codec.stream_encoder(), codec.stream_decoder(), vad.stream()

    def analyse(self, pcm: np.ndarray, run_vad: bool) -> tuple[np.ndarray, list[float]]:
        """float32 [1280] -> (codes [K, G], speech probabilities of the completed VAD windows)."""
        probs = self.vad.process(pcm) if run_vad else []
        return self.encoder.encode(pcm), probs
