"""The talk client's microphone and speaker: sound-card devices or WAV files, opened, switched and closed.

`--input FILE` plays a recording into the conversation as a microphone would (paced in real time); when it
ends the microphone goes on with silence, so the assistant can still answer. `--output FILE` records the
speaker's timeline (paced, so playback position and barge-in behave as on a device) and is written on close.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from dataclasses import dataclass

import numpy as np

from audio.devices import BlockSource, DeviceConfig, InputDevice, OutputDevice
from audio.filedev import ArraySink, ArraySource

log = logging.getLogger(__name__)


@dataclass
class AudioSpec:
    """Where audio comes from and goes to: a file, else a device (index or name substring, None = default)."""

    input_file: str | None = None
    output_file: str | None = None
    input_device: str | None = None
    output_device: str | None = None


class AudioIO:
    """The open source and sink of a talk session.

    Args:
        spec: files or devices.
        config: sound-card settings (rate, block size, latency).
    """

    def __init__(self, spec: AudioSpec, config: DeviceConfig | None = None) -> None:
        self.spec = spec
        self.config = config or DeviceConfig()
        self.sample_rate = self.config.sample_rate
        self.block_size = self.config.block_size
        self.source: BlockSource | None = None
        self.sink: OutputDevice | ArraySink | None = None
        self.input_ended = False  # the input file has been played to its end
        self.generation = 0  # bumped by `switch`: a read that failed on an older source is no fault
        self._silence_clock: float | None = None

    @property
    def uses_devices(self) -> bool:
        """Both sides are sound-card devices (an acoustic echo path exists)."""
        return self.spec.input_file is None and self.spec.output_file is None

    def open(self) -> None:
        """Open both sides (inside the running event loop); raises AudioDeviceError for a bad device."""
        self.source = self._open_source()
        try:
            self.sink = self._open_sink()
        except Exception:
            self._close_source()
            raise

    def _open_source(self) -> BlockSource:
        if self.spec.input_file is not None:
            return ArraySource.from_wav(
                self.spec.input_file, self.sample_rate, self.block_size, realtime=True
            )
        mic = InputDevice(dataclasses.replace(self.config, input_device=self.spec.input_device))
        mic.start()
        return mic

    def _open_sink(self) -> OutputDevice | ArraySink:
        if self.spec.output_file is not None:
            sink = ArraySink(self.sample_rate, self.block_size, realtime=True)
        else:
            sink = OutputDevice(dataclasses.replace(self.config, output_device=self.spec.output_device))
        sink.start()
        return sink

    @property
    def input_latency(self) -> float:
        """Capture latency of the input device, seconds (0 for a file)."""
        return self.source.latency if isinstance(self.source, InputDevice) else 0.0

    @property
    def output_latency(self) -> float:
        """Playback latency of the output device, seconds (0 for a file)."""
        return self.sink.latency if isinstance(self.sink, OutputDevice) else 0.0

    async def read(self) -> np.ndarray:
        """The next float32 [block_size] microphone block; silence (paced) once an input file has ended.

        Raises:
            EOFError: the input device stopped (unplugged, or closed by `switch`/`close`).
        """
        if not self.input_ended:
            try:
                return await self.source.read()
            except EOFError:
                if self.spec.input_file is None:
                    raise
                log.info("input file %s ended; the microphone goes on with silence", self.spec.input_file)
                self.input_ended = True
        loop = asyncio.get_running_loop()
        block_s = self.block_size / self.sample_rate
        self._silence_clock = max(self._silence_clock or 0.0, loop.time() - block_s) + block_s
        await asyncio.sleep(max(0.0, self._silence_clock - loop.time()))
        return np.zeros(self.block_size, np.float32)

    def switch(self, input_device: str | None, output_device: str | None) -> None:
        """Reopen both sides on these devices (files are given up).

        Raises:
            AudioDeviceError: a device cannot be opened; the old source and sink stay in use.
        """
        old = (self.spec, self.source, self.sink)
        self.spec = AudioSpec(input_device=input_device, output_device=output_device)
        try:
            source = self._open_source()
            try:
                sink = self._open_sink()
            except Exception:
                source.close()
                raise
        except Exception:
            self.spec = old[0]
            raise
        self.source, self.sink, self.input_ended = source, sink, False
        self.generation += 1
        self._close(old[1], old[2], old[0])

    def close(self) -> None:
        """Close both sides; an output file is written now."""
        self._close(self.source, self.sink, self.spec)
        self.source = self.sink = None

    def _close_source(self) -> None:
        if self.source is not None and hasattr(self.source, "close"):
            self.source.close()

    @staticmethod
    def _close(source, sink, spec: AudioSpec) -> None:
        if source is not None and hasattr(source, "close"):
            source.close()
        if sink is not None:
            sink.close()
            if isinstance(sink, ArraySink) and spec.output_file is not None:
                sink.save(spec.output_file)
                log.info("wrote %s (%.1f s)", spec.output_file, len(sink.audio) / sink.sample_rate)
