"""Sound-card capture and playback through PortAudio (sounddevice): 24 kHz mono float32 in fixed blocks.

Input and output are two separate streams (a full-duplex `sd.Stream` fails on the ALSA -> PulseAudio path).
Their callbacks run on PortAudio's threads and only move samples through preallocated `SampleRing`s; the
input callback then hops to the asyncio loop with `call_soon_threadsafe`. Everything else (resampling,
logging, waiting) happens on the caller's side. When a device cannot run at 24 kHz it is opened at its
default rate and `StreamResampler` converts on the caller's side.

Every source (`InputDevice`, `audio.filedev.ArraySource`) is read with `await source.read()` or
`async for block in source`; every sink (`OutputDevice`, `audio.filedev.ArraySink`) takes `write(pcm)`,
`flush()`, reports `played_samples`, and gives back what it put out (`read_output`: the echo canceller's
reference, on the speaker's own timeline).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, Protocol, Self

import numpy as np

from audio.resample import StreamResampler

log = logging.getLogger(__name__)

INSTALL_PORTAUDIO = "apt-get install -y libportaudio2 (or run `make setup`)"
MONITOR_S = 2.0  # output kept until `OutputDevice.read_output` takes it (the client takes it every block)
# A block whose DAC time comes later than the previous block's end by more than this was preceded by
# silence the sound server played itself (our callback came late): such gaps last tens to hundreds of ms
# under load, while a steady stream's DAC time keeps to its sample count (docs/architecture.md, "The desk
# client").
GAP_TOLERANCE_S = 0.005


class AudioDeviceError(RuntimeError):
    """No usable audio device, an unknown device name, or PortAudio missing; the message says what to do."""


@dataclass
class DeviceConfig:
    """Settings of the sound-card streams (field names are also the CLI flags and JSON keys)."""

    sample_rate: int = field(
        default=24000, metadata={"help": "rate of the samples hark reads and writes, Hz"}
    )
    block_size: int = field(default=480, metadata={"help": "samples per block at sample_rate (480 = 20 ms)"})
    input_device: str | None = field(default=None, metadata={"help": "input device index or name substring"})
    output_device: str | None = field(
        default=None, metadata={"help": "output device index or name substring"}
    )
    device_rate: int = field(
        default=0, metadata={"help": "open devices at this rate, Hz (0: 24 kHz if possible)"}
    )
    latency: str = field(default="low", metadata={"help": "PortAudio latency: low, high or seconds"})
    input_buffer_s: float = field(default=2.0, metadata={"help": "captured audio held before overrun, s"})
    output_buffer_s: float = field(
        default=60.0, metadata={"help": "audio that can be queued for playback, s"}
    )


@dataclass(frozen=True)
class DeviceInfo:
    """One PortAudio device as `hark devices` shows it."""

    index: int
    name: str
    host_api: str
    input_channels: int
    output_channels: int
    default_rate: float
    default_input: bool
    default_output: bool

    def channels(self, kind: str) -> int:
        """Channels for `kind` ("input" or "output")."""
        return self.input_channels if kind == "input" else self.output_channels


class AudioSink(Protocol):
    """Where audio goes: a sound card or an array (see module docstring)."""

    sample_rate: int

    def write(self, pcm: np.ndarray) -> None: ...

    def flush(self) -> None: ...

    @property
    def played_samples(self) -> int: ...

    def read_output(self) -> np.ndarray: ...

    async def drain(self) -> None: ...


class BlockSource:
    """Base of sources: `async for block in source` calls `read()` until it raises EOFError."""

    sample_rate: int
    block_size: int

    async def read(self) -> np.ndarray:
        """The next float32 [block_size] block; raises EOFError when the source has ended."""
        raise NotImplementedError

    def __aiter__(self) -> BlockSource:
        return self

    async def __anext__(self) -> np.ndarray:
        try:
            return await self.read()
        except EOFError:
            raise StopAsyncIteration from None


class SampleRing:
    """FIFO of float32 samples in a preallocated array, for one producer thread and one consumer thread.

    The producer calls `write` and `request_flush`, the consumer `read_into` and `fill`. Each position
    counter is stored by one side only and only grows, so no lock is needed and no call allocates.
    """

    def __init__(self, capacity: int) -> None:
        self._buf = np.zeros(capacity, dtype=np.float32)
        self._written = 0
        self._read = 0
        self._flush_to = 0

    @property
    def available(self) -> int:
        """Samples written and not yet read, less any whose flush is pending."""
        return self._written - max(self._read, self._flush_to)

    @property
    def free(self) -> int:
        """Samples `write` can take now (flushed samples free their room once the consumer skips them)."""
        return len(self._buf) - (self._written - self._read)

    def write_silence(self, count: int) -> int:
        """Append up to `count` zeros (as many as fit); returns how many were taken."""
        return self.write(np.broadcast_to(np.float32(0.0), (count,)))  # a view: no array of zeros is made

    def write(self, samples: np.ndarray) -> int:
        """Append as many of `samples` as fit; returns how many were taken."""
        n = min(len(samples), self.free)
        start = self._written % len(self._buf)
        first = min(n, len(self._buf) - start)
        self._buf[start : start + first] = samples[:first]
        self._buf[: n - first] = samples[first:n]
        self._written += n
        return n

    def request_flush(self) -> None:
        """Drop everything written so far; takes effect at the consumer's next read."""
        self._flush_to = self._written

    def read_into(self, out: np.ndarray) -> int:
        """Move up to len(out) samples into `out`; returns how many were moved."""
        if self._flush_to > self._read:
            self._read = self._flush_to
        n = min(len(out), self._written - self._read)
        start = self._read % len(self._buf)
        first = min(n, len(self._buf) - start)
        out[:first] = self._buf[start : start + first]
        out[first:n] = self._buf[: n - first]
        self._read += n
        return n

    def fill(self, out: np.ndarray) -> int:
        """Like `read_into`, then zero the rest of `out` (silence on underrun); returns the samples moved."""
        n = self.read_into(out)
        out[n:] = 0.0
        return n


def _sounddevice() -> Any:
    """Import sounddevice, turning a missing PortAudio library into an AudioDeviceError."""
    try:
        import sounddevice
    except OSError as e:  # sounddevice raises OSError when libportaudio cannot be loaded
        raise AudioDeviceError(f"PortAudio is not installed ({e}); install it: {INSTALL_PORTAUDIO}") from e
    return sounddevice


def list_devices() -> list[DeviceInfo]:
    """Every device PortAudio sees (empty when there is none). Raises AudioDeviceError without PortAudio."""
    sd = _sounddevice()
    default_in, default_out = sd.default.device
    host_apis = [api["name"] for api in sd.query_hostapis()]
    return [
        DeviceInfo(
            index=i,
            name=d["name"],
            host_api=host_apis[d["hostapi"]],
            input_channels=d["max_input_channels"],
            output_channels=d["max_output_channels"],
            default_rate=d["default_samplerate"],
            default_input=i == default_in,
            default_output=i == default_out,
        )
        for i, d in enumerate(sd.query_devices())
    ]


def describe_devices(devices: list[DeviceInfo]) -> str:
    """One line per device ("none" when empty), for error messages."""
    if not devices:
        return "none"
    return "; ".join(
        f"[{d.index}] {d.name} ({d.input_channels} in, {d.output_channels} out)" for d in devices
    )


def resolve_device(spec: str | int | None, kind: str) -> DeviceInfo:
    """Pick the `kind` ("input"/"output") device named by `spec`: None = the default, an index, or a name
    substring (case-insensitive; an exact name wins over substrings).

    Raises:
        AudioDeviceError: nothing matches, the match is ambiguous, or no such device exists (lists devices).
    """
    all_devices = list_devices()
    devices = [d for d in all_devices if d.channels(kind) > 0]
    if not devices:
        raise AudioDeviceError(
            f"no audio {kind} device found; PortAudio sees: {describe_devices(all_devices)}"
        )
    if spec is None:  # the default, else (PortAudio names none) the first device that has channels
        matches = [
            d for d in devices if (d.default_input if kind == "input" else d.default_output)
        ] or devices[:1]
    elif str(spec).isdigit():
        matches = [d for d in devices if d.index == int(spec)]
    else:
        exact = [d for d in devices if d.name.lower() == str(spec).lower()]
        matches = exact or [d for d in devices if str(spec).lower() in d.name.lower()]
    if len(matches) != 1:
        problem = "matches several" if matches else "matches no"
        listed = describe_devices(matches or devices)
        raise AudioDeviceError(f"{kind} device {spec!r} {problem} {kind} device; {kind} devices: {listed}")
    return matches[0]


def _open_rate(sd: Any, device: DeviceInfo, kind: str, config: DeviceConfig) -> int:
    """Rate to open `device` at: config.device_rate, else config.sample_rate if it works, else its default."""
    if config.device_rate:
        return config.device_rate
    check = sd.check_input_settings if kind == "input" else sd.check_output_settings
    try:
        check(device=device.index, channels=1, dtype="float32", samplerate=config.sample_rate)
        return config.sample_rate
    except sd.PortAudioError:
        rate = int(device.default_rate)
        log.info(
            "%s device %r does not take %d Hz; resampling from %d Hz",
            kind,
            device.name,
            config.sample_rate,
            rate,
        )
        return rate


def _latency(config: DeviceConfig) -> str | float:
    """PortAudio's suggested latency from the config string ("low", "high" or seconds)."""
    try:
        return float(config.latency)
    except ValueError:
        return config.latency


class _Device:
    """What input and output share: device choice, rate choice, the ring and the stream's lifetime."""

    kind = ""

    def __init__(self, config: DeviceConfig | None = None) -> None:
        self.config = config or DeviceConfig()
        self.sample_rate = self.config.sample_rate
        self.block_size = self.config.block_size
        self.device: DeviceInfo | None = None
        self.device_rate = 0
        self.xruns = 0  # callbacks for which PortAudio reported an over/underflow of its own buffers
        self._stream: Any = None
        self._resampler: StreamResampler | None = None

    def _open(self, buffer_s: float, **stream_args: Any) -> None:
        sd = _sounddevice()
        spec = self.config.input_device if self.kind == "input" else self.config.output_device
        self.device = resolve_device(spec, self.kind)
        self.device_rate = _open_rate(sd, self.device, self.kind, self.config)
        if self.device_rate != self.sample_rate:
            self._resampler = StreamResampler(*self._rates())
        self._allocate(buffer_s)
        stream_class = sd.InputStream if self.kind == "input" else sd.OutputStream
        try:
            self._stream = stream_class(
                device=self.device.index,
                samplerate=self.device_rate,
                blocksize=round(self.block_size * self.device_rate / self.sample_rate),
                channels=1,
                dtype="float32",
                latency=_latency(self.config),
                callback=self._callback,
                **stream_args,
            )
            self._stream.start()
        except sd.PortAudioError as e:
            self.close()
            raise AudioDeviceError(
                f"cannot open {self.kind} device {self.device.name!r} at {self.device_rate} Hz: {e}; "
                "pick another with --input-device/--output-device (see `hark devices`)"
            ) from e
        log.info(
            "%s: %r at %d Hz, latency %.0f ms",
            self.kind,
            self.device.name,
            self.device_rate,
            1e3 * self.latency,
        )

    def _allocate(self, buffer_s: float) -> None:
        """Make the buffers the callback uses (before the stream starts; the device rate is known)."""
        self._ring = SampleRing(int(buffer_s * self.device_rate))

    def _rates(self) -> tuple[int, int]:
        raise NotImplementedError

    def _callback(self, *args: Any) -> None:
        raise NotImplementedError

    @property
    def latency(self) -> float:
        """PortAudio's reported latency of the open stream, seconds (0 when closed)."""
        return float(self._stream.latency) if self._stream is not None else 0.0

    def close(self) -> None:
        """Stop and close the stream (idempotent)."""
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    async def __aenter__(self) -> Self:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Open the device and start its stream."""
        raise NotImplementedError


class InputDevice(_Device, BlockSource):
    """A microphone as an async source of float32 [block_size] blocks at config.sample_rate.

    Use inside a running event loop: `async with InputDevice(config) as mic: async for block in mic: ...`.
    Blocks that arrive while the ring is full are dropped and counted in `overruns`.
    """

    kind = "input"

    def __init__(self, config: DeviceConfig | None = None) -> None:
        super().__init__(config)
        self.overruns = 0
        self._pending = np.zeros(0, dtype=np.float32)
        self._ready = asyncio.Event()  # set from PortAudio's thread (via the loop) when samples arrive

    def start(self) -> None:
        """Open the device and start capturing; must be called from the event loop's thread."""
        self._loop = asyncio.get_running_loop()
        self._open(self.config.input_buffer_s, finished_callback=self._wake)

    def _rates(self) -> tuple[int, int]:
        return self.device_rate, self.sample_rate

    def _callback(self, indata: np.ndarray, frames: int, time: Any, status: Any) -> None:
        if status:
            self.xruns += 1
        if self._ring.free < frames:
            self.overruns += 1
        else:
            self._ring.write(indata[:, 0])
        self._wake()

    def _wake(self) -> None:
        """Wake a waiting `read` (from PortAudio's thread; also when the stream finishes)."""
        try:  # noqa: SIM105  (contextlib.suppress would allocate an object per audio block)
            self._loop.call_soon_threadsafe(self._ready.set)
        except RuntimeError:  # the loop is closed: nobody can be waiting any more
            pass

    async def read(self) -> np.ndarray:
        """The next captured float32 [block_size] block; raises EOFError once the device is closed."""
        while len(self._pending) < self.block_size:
            while self._ring.available == 0:
                if self._stream is None or not self._stream.active:
                    raise EOFError("the input device is closed")
                self._ready.clear()
                if self._ring.available == 0:
                    await self._ready.wait()
            chunk = np.empty(self._ring.available, dtype=np.float32)
            self._ring.read_into(chunk)
            if self._resampler is not None:
                chunk = self._resampler.process(chunk)
            self._pending = np.concatenate([self._pending, chunk])
        block, self._pending = self._pending[: self.block_size], self._pending[self.block_size :]
        return block

    def close(self) -> None:
        """Stop capturing; a waiting `read` raises EOFError."""
        super().close()
        self._ready.set()


class OutputDevice(_Device):
    """A speaker as a sink: `write` queues float32 samples at config.sample_rate, the device plays them.

    When the queue runs dry the device plays silence and counts the block in `underruns`; samples that do
    not fit the queue are dropped and counted in `dropped_samples`. `flush()` silences the device within
    one block (barge-in), and `played_samples` says how much audio was actually handed to the device.

    `read_output()` returns everything the device put out since the last call: the audio, the silence of
    underruns, and the silence the sound server played on its own when a callback came late (found from
    PortAudio's DAC times, counted in `inserted_samples`). That is the speaker's own timeline, which the
    echo canceller needs: a reference that skipped those gaps would run ahead of the echo it has to
    cancel, and the canceller would have to find the new delay (about a second of poor cancellation).
    """

    kind = "output"

    def __init__(self, config: DeviceConfig | None = None) -> None:
        super().__init__(config)
        self.underruns = 0
        self.dropped_samples = 0
        self.inserted_samples = 0  # device-rate silence the sound server played between our blocks
        self._played = 0  # device-rate samples taken from the ring by the callback
        self._monitor: SampleRing | None = None  # what the callback put out, for `read_output`
        self._monitor_resampler: StreamResampler | None = None
        self._next_dac = 0.0  # DAC time at which the block after the last one should start

    def _allocate(self, buffer_s: float) -> None:
        super()._allocate(buffer_s)
        self._monitor = SampleRing(int(MONITOR_S * self.device_rate))
        if self.device_rate != self.sample_rate:
            self._monitor_resampler = StreamResampler(self.device_rate, self.sample_rate)
        self._next_dac = 0.0

    def start(self) -> None:
        """Open the device and start playing (silence until something is written)."""
        self._open(self.config.output_buffer_s)

    def _rates(self) -> tuple[int, int]:
        return self.sample_rate, self.device_rate

    def _callback(self, outdata: np.ndarray, frames: int, time: Any, status: Any) -> None:
        if status:
            self.xruns += 1
        n = self._ring.fill(outdata[:, 0])
        self._played += n
        if n < frames:
            self.underruns += 1
        dac = time.outputBufferDacTime  # 0.0 where the host API does not know it: no gaps are seen
        if self._next_dac and dac - self._next_dac > GAP_TOLERANCE_S:
            gap = round((dac - self._next_dac) * self.device_rate)
            self.inserted_samples += gap
            self._monitor.write_silence(gap)
        self._next_dac = dac + frames / self.device_rate if dac else 0.0
        self._monitor.write(outdata[:, 0])

    def write(self, pcm: np.ndarray) -> None:
        """Queue float32 [n] samples at config.sample_rate for playback; never blocks."""
        samples = self._resampler.process(pcm) if self._resampler is not None else pcm
        taken = self._ring.write(samples)
        if taken < len(samples):
            self.dropped_samples += len(samples) - taken
            log.warning("output queue full: dropped %d samples", len(samples) - taken)

    def flush(self) -> None:
        """Drop everything queued; the device goes silent at its next block."""
        self._ring.request_flush()
        if self._resampler is not None:
            self._resampler.reset()

    @property
    def played_samples(self) -> int:
        """Samples (at config.sample_rate) handed to the device so far; flushed samples are not counted."""
        return self._played * self.sample_rate // self.device_rate if self.device_rate else 0

    @property
    def queued_samples(self) -> int:
        """Samples (at config.sample_rate) written and not yet played."""
        return self._ring.available * self.sample_rate // self.device_rate if self.device_rate else 0

    def read_output(self) -> np.ndarray:
        """float32 samples at config.sample_rate: all the device put out since the last call, gaps included
        (see the class docstring); empty before the stream opens."""
        if self._monitor is None:
            return np.zeros(0, np.float32)
        out = np.empty(self._monitor.available, np.float32)
        self._monitor.read_into(out)
        return self._monitor_resampler.process(out) if self._monitor_resampler is not None else out

    async def drain(self) -> None:
        """Wait until everything queued has been handed to the device."""
        while self._stream is not None and self._ring.available > 0:
            await asyncio.sleep(self.block_size / self.sample_rate)
