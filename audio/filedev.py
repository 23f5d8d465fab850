"""Array- and file-backed stand-ins for the sound card, with the same interface as audio.devices.

`ArraySource` plays a recording as if it came from a microphone; `ArraySink` records what would have been
played. Paced (`realtime=True`), both keep a wall clock of one block per block duration, like a device: the
source hands out a block only once it would have been captured, the sink consumes one block per tick and
records silence (counting an underrun) when nothing is queued, so its array is the speaker's timeline.
Unpaced, the source returns blocks at once and the sink appends writes directly (offline runs, fast tests).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np

from audio.devices import BlockSource, SampleRing
from audio.resample import resample
from audio.wavio import read_wav, write_wav

SAMPLE_RATE = 24000
BLOCK_SIZE = 480


class ArraySource(BlockSource):
    """A source of float32 [block_size] blocks cut from an array; the last block is padded with zeros.

    Args:
        samples: float32 [T] at `sample_rate`.
        sample_rate: rate of `samples`, Hz.
        block_size: samples per block.
        realtime: hand out one block per block duration (as a microphone would) instead of at once.
    """

    def __init__(
        self,
        samples: np.ndarray,
        sample_rate: int = SAMPLE_RATE,
        block_size: int = BLOCK_SIZE,
        realtime: bool = False,
    ) -> None:
        self.samples = np.asarray(samples, dtype=np.float32)
        self.sample_rate = sample_rate
        self.block_size = block_size
        self.realtime = realtime
        self.blocks_read = 0
        self._start: float | None = None

    @classmethod
    def from_wav(
        cls,
        path: str | Path,
        sample_rate: int = SAMPLE_RATE,
        block_size: int = BLOCK_SIZE,
        realtime: bool = False,
    ) -> ArraySource:
        """A source reading a WAV file resampled to `sample_rate` (arguments as for the constructor)."""
        samples, rate = read_wav(path)
        return cls(resample(samples, rate, sample_rate), sample_rate, block_size, realtime)

    async def read(self) -> np.ndarray:
        """The next float32 [block_size] block; raises EOFError after the last one."""
        start = self.blocks_read * self.block_size
        if start >= len(self.samples):
            raise EOFError("end of the recording")
        if self.realtime:
            loop = asyncio.get_running_loop()
            if self._start is None:
                self._start = loop.time()
            # A block exists only once its last sample would have been captured.
            due = self._start + (self.blocks_read + 1) * self.block_size / self.sample_rate
            await asyncio.sleep(max(0.0, due - loop.time()))
        block = np.zeros(self.block_size, dtype=np.float32)
        chunk = self.samples[start : start + self.block_size]
        block[: len(chunk)] = chunk
        self.blocks_read += 1
        return block


class ArraySink:
    """A sink that records what is played into an array (see the module docstring for the two modes).

    Args:
        sample_rate: rate of the written samples, Hz.
        block_size: samples consumed per tick when paced.
        realtime: consume one block per block duration in a background task (call `start()` in a loop).
        buffer_s: how much audio may be queued when paced; more is dropped and counted.
    """

    def __init__(
        self,
        sample_rate: int = SAMPLE_RATE,
        block_size: int = BLOCK_SIZE,
        realtime: bool = False,
        buffer_s: float = 60.0,
    ) -> None:
        self.sample_rate = sample_rate
        self.block_size = block_size
        self.realtime = realtime
        self.underruns = 0
        self.dropped_samples = 0
        self._played = 0
        self._timeline: list[np.ndarray] = []
        self._unread = 0  # blocks of the timeline `read_output` has not returned yet
        self._ring = SampleRing(int(buffer_s * sample_rate))
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        """Start the playback clock (paced mode only; a no-op otherwise). Needs a running event loop."""
        if self.realtime and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._tick())

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        start, ticks = loop.time(), 0
        while True:
            block = np.empty(self.block_size, dtype=np.float32)
            n = self._ring.fill(block)
            self._played += n
            if n < self.block_size:
                self.underruns += 1
            self._timeline.append(block)
            self._unread += 1
            ticks += 1
            await asyncio.sleep(max(0.0, start + ticks * self.block_size / self.sample_rate - loop.time()))

    def write(self, pcm: np.ndarray) -> None:
        """Queue float32 [n] samples (paced) or record them at once (unpaced); never blocks."""
        pcm = np.asarray(pcm, dtype=np.float32)
        if not self.realtime:
            self._timeline.append(pcm.copy())
            self._unread += 1
            self._played += len(pcm)
            return
        taken = self._ring.write(pcm)
        self.dropped_samples += len(pcm) - taken

    def flush(self) -> None:
        """Drop everything queued; nothing more of it is played after the next tick."""
        self._ring.request_flush()

    @property
    def played_samples(self) -> int:
        """Samples played so far (unpaced: every sample written); flushed samples are not counted."""
        return self._played

    @property
    def queued_samples(self) -> int:
        """Samples written and not yet played."""
        return self._ring.available

    async def drain(self) -> None:
        """Wait until everything queued has been played."""
        while self._task is not None and self._ring.available > 0:
            await asyncio.sleep(self.block_size / self.sample_rate)

    def close(self) -> None:
        """Stop the playback clock; what was played stays in `audio`."""
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def read_output(self) -> np.ndarray:
        """What was played (paced: with the silence of underruns) since the last call, float32."""
        fresh = self._timeline[len(self._timeline) - self._unread :] if self._unread else []
        self._unread = 0
        return np.concatenate(fresh) if fresh else np.zeros(0, dtype=np.float32)

    @property
    def audio(self) -> np.ndarray:
        """Everything played so far, float32 [played + silence of underruns when paced]."""
        return np.concatenate(self._timeline) if self._timeline else np.zeros(0, dtype=np.float32)

    def save(self, path: str | Path) -> None:
        """Write what was played to a WAV file at `sample_rate`."""
        write_wav(path, self.audio, self.sample_rate)

    async def __aenter__(self) -> ArraySink:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
