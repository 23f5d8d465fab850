"""Per-session media helpers: the input buffer the engine consumes, and the codec/VAD streams.

The numeric work (codec encode/decode, silero-vad) runs in the server's worker threads, never on the event
loop. Server VAD reads the input buffer ahead of the engine, as audio arrives (`VadReader`), so that speech
is confirmed `min_speech_ms` after its onset plus one 32 ms VAD window, not a whole 53 ms engine step
later and not behind the engine's queue.
"""

from __future__ import annotations

import asyncio
from collections import deque
from concurrent.futures import Executor

import numpy as np

from audio.codec import Codec
from audio.vad import SileroVad


class InputBuffer:
    """Input the engine has not consumed yet, along the last axis (samples [n], or codes [K, n]).

    Args:
        silence: one unit of padding: a 0-d array for PCM (zeros), or the [K] silence codes.
        head: position of the first unit on the input timeline (units consumed before this buffer).
    """

    def __init__(self, silence: np.ndarray, head: int = 0):
        self.silence = silence
        self.parts: deque[np.ndarray] = deque()
        self.size = 0
        self.head = head  # timeline position of the oldest buffered unit

    @property
    def end(self) -> int:
        """Timeline position just after the newest buffered unit."""
        return self.head + self.size

    def push(self, data: np.ndarray) -> None:
        self.parts.append(data)
        self.size += data.shape[-1]

    def pop(self, n: int) -> np.ndarray:
        """Remove and return the oldest n units (fewer if there are fewer)."""
        taken = self.peek(0, n)
        left = taken.shape[-1]
        while left:
            part = self.parts.popleft()
            if part.shape[-1] > left:
                self.parts.appendleft(part[..., left:])
            left -= min(left, part.shape[-1])
        self.size -= taken.shape[-1]
        self.head += taken.shape[-1]
        return taken

    def peek(self, offset: int, n: int) -> np.ndarray:
        """Units [offset, offset + n) after the head (fewer if there are fewer), without removing them."""
        taken, got = [], 0
        for part in self.parts:
            if got >= n:
                break
            if offset >= part.shape[-1]:
                offset -= part.shape[-1]
                continue
            piece = part[..., offset : offset + n - got]
            taken.append(piece)
            got, offset = got + piece.shape[-1], 0
        return np.concatenate(taken, axis=-1) if taken else self._silence(0)

    def fill(self, n: int) -> None:
        """Top the buffer up with silence to at least n units."""
        if self.size < n:
            self.push(self._silence(n - self.size))

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
    """A session's codec streams (run them in the executor, one call at a time) and its server VAD."""

    def __init__(self, codec: Codec, vad: SileroVad, executor: Executor):
        self.encoder, self.decoder = codec.stream_encoder(), codec.stream_decoder()
        self.vad = VadReader(vad, executor)


class VadReader:
    """Server VAD over the PCM input timeline, reading the input buffer ahead of the engine.

    Both the arrival of audio and the engine (before it takes a chunk) call `read`; calls are serialised,
    each analyses what nobody has analysed yet, so every timeline sample goes through silero once, in
    order. Not for token-mode input (no PCM).

    Args:
        vad: the shared silero model.
        executor: where silero runs (off the event loop).
    """

    def __init__(self, vad: SileroVad, executor: Executor):
        self._vad, self._executor = vad, executor
        self._stream = vad.stream()
        self._lock = asyncio.Lock()
        self._epoch = 0  # bumped by reset: results of a read in flight are then dropped
        self.position = 0  # timeline samples analysed

    def reset(self, position: int) -> None:
        """Forget the stream (buffered audio was dropped or replaced); analysis resumes at `position`."""
        self._stream, self.position = self._vad.stream(), position
        self._epoch += 1

    async def read(self, fifo: InputBuffer, until: int | None = None) -> tuple[list[float], int]:
        """Analyse buffered PCM up to timeline position `until` (None: all of it).

        Returns the speech probability of each 32 ms window completed and the timeline position analysed
        up to (samples before the buffer's head that were never analysed are skipped).
        """
        async with self._lock:
            end = fifo.end if until is None else min(until, fifo.end)
            start = max(self.position, fifo.head)
            if end <= start:
                return [], self.position
            pcm = fifo.peek(start - fifo.head, end - start)
            epoch = self._epoch
            loop = asyncio.get_running_loop()
            probs = await loop.run_in_executor(self._executor, self._stream.process, pcm)
            if epoch != self._epoch:
                return [], self.position
            self.position = end
            return probs, end
