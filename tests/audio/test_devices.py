"""Tests for audio/devices.py on real PortAudio streams through a PulseAudio null sink (see tests/pulse.py).

What the output stream plays comes back on the input stream (the sink's monitor), so these tests check the
whole path a voice takes: level, shape (correlation) and the speaker -> microphone delay.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from pulse import running_pulseaudio

from audio.devices import (
    AudioDeviceError,
    DeviceConfig,
    InputDevice,
    OutputDevice,
    SampleRing,
    resolve_device,
)
from audio.levels import align
from audio.tts import Voice, synthesize

RATE, BLOCK = 24000, 480
# 50 ms of device buffering: the default ("low", 40 ms) can underrun when the 2 shared cores are busy, and
# these tests check the signal path, not the smallest latency.
CONFIG = DeviceConfig(latency="0.05")

needs_pulse = pytest.mark.usefixtures("pulse_server")


def _chirp(seconds: float = 0.5, low: float = 200.0, high: float = 4000.0) -> np.ndarray:
    """A Hann-windowed linear sweep: sharp autocorrelation, so the delay is unambiguous."""
    t = np.arange(int(RATE * seconds)) / RATE
    phase = 2 * np.pi * (low * t + (high - low) / (2 * seconds) * t**2)
    return (0.5 * np.sin(phase) * np.hanning(len(t))).astype(np.float32)


async def _loopback(
    signal: np.ndarray, config: DeviceConfig, lead_in_s: float = 0.2
) -> tuple[np.ndarray, int]:
    """Record while playing `signal`; returns (recording, samples recorded before `signal` was written)."""
    total = int((lead_in_s + len(signal) / RATE + 0.5) * RATE)
    recorded: list[np.ndarray] = []
    written_at = 0
    async with InputDevice(config) as mic, OutputDevice(config) as speaker:
        async for block in mic:
            recorded.append(block)
            if not written_at and len(recorded) * BLOCK >= lead_in_s * RATE:
                speaker.write(signal)
                written_at = len(recorded) * BLOCK
            if len(recorded) * BLOCK >= total:
                break
    return np.concatenate(recorded), written_at


def _report_delay(
    record_property: pytest.RecordProperty, name: str, delay_samples: int, correlation: float
) -> float:
    delay_ms = 1e3 * delay_samples / RATE
    print(f"{name}: speaker->microphone delay {delay_ms:.1f} ms, correlation {correlation:.4f}")
    record_property(f"{name}_delay_ms", round(delay_ms, 1))
    return delay_ms


@needs_pulse
async def test_chirp_comes_back_through_the_loopback(record_property: pytest.RecordProperty) -> None:
    """A chirp played at 24 kHz comes back with correlation > 0.9, its level within 1 dB, and a sane delay."""
    chirp = _chirp()
    recording, written_at = await _loopback(chirp, CONFIG)
    found = align(chirp, recording)
    delay_ms = _report_delay(record_property, "chirp", found.delay - written_at, found.correlation)
    assert found.correlation > 0.9
    assert abs(found.gain_db) < 1.0
    assert 0.0 <= delay_ms < 500.0


@needs_pulse
async def test_speech_comes_back_through_resampling_devices(record_property: pytest.RecordProperty) -> None:
    """An espeak-ng utterance survives devices opened at 48 kHz (resampled both ways): correlation > 0.9."""
    speech = synthesize("testing the loopback, one two three", Voice("espeak-ng", "en-us"))
    config = DeviceConfig(latency=CONFIG.latency, device_rate=48000)
    recording, written_at = await _loopback(speech, config)
    found = align(speech, recording)
    delay_ms = _report_delay(record_property, "speech_48k", found.delay - written_at, found.correlation)
    assert found.correlation > 0.9
    assert abs(found.gain_db) < 1.0
    assert 0.0 <= delay_ms < 500.0


@needs_pulse
async def test_starved_output_plays_silence_and_counts_underruns() -> None:
    """Starved, every block is an underrun and nothing counts as played; written audio then plays fully."""
    async with OutputDevice(CONFIG) as speaker:
        await asyncio.sleep(0.2)
        starved_blocks, played_while_starved = speaker.underruns, speaker.played_samples
        speaker.write(np.full(2400, 0.1, dtype=np.float32))
        await speaker.drain()
    assert starved_blocks >= 5
    assert played_while_starved == 0
    assert speaker.played_samples == 2400


def _hold_the_interpreter(seconds: float) -> None:
    """Keep PortAudio's callback threads (Python code, so they need the GIL) from running for `seconds`,
    as a busy process does to a desktop client: Python would hand the GIL over every 5 ms, so widen that."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(10 * seconds)
    try:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            pass
    finally:
        sys.setswitchinterval(interval)


@needs_pulse
async def test_output_keeps_its_delay_to_the_microphone_across_a_late_callback() -> None:
    """The echo canceller's reference (`read_output`) stays on the speaker's timeline when the output
    callback comes late and the sound server plays silence meanwhile: a chirp before and a chirp after a
    300 ms stall reach the microphone with the same delay behind the reference (within 2 ms). Without the
    inserted silence the second delay would be longer by the whole gap (measured: 234 ms)."""
    chirp = _chirp()
    signal = np.concatenate([chirp, np.zeros(RATE, np.float32), chirp, np.zeros(RATE // 2, np.float32)])
    recorded, reference = [], []
    async with InputDevice() as mic, OutputDevice() as speaker:
        speaker.write(signal)
        async for block in mic:
            recorded.append(block)
            reference.append(speaker.read_output())
            if len(recorded) == int(0.9 * RATE / BLOCK):  # between the chirps
                _hold_the_interpreter(0.3)
            if speaker.played_samples >= len(signal) and len(recorded) * BLOCK > len(signal) + RATE // 2:
                break
    recording, output = np.concatenate(recorded), np.concatenate(reference)
    delays = []
    for part in (slice(0, len(recording) // 2), slice(len(recording) // 2, None)):
        heard, played = align(chirp, recording[part]), align(chirp, output[part])
        assert heard.correlation > 0.9 and played.correlation > 0.99
        delays.append(heard.delay - played.delay)
    print(f"silence the server inserted: {speaker.inserted_samples} samples; delays {delays}")
    assert speaker.inserted_samples > 0.1 * RATE  # the stall really made the server fill in
    assert abs(delays[1] - delays[0]) < 0.002 * RATE


@needs_pulse
async def test_flush_silences_the_speaker_within_a_block() -> None:
    """flush() plays at most one more block, and the recorded sound stops within the loopback delay."""
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(2 * RATE) / RATE)).astype(np.float32)
    recorded: list[np.ndarray] = []
    flushed_at = played_at_flush = played_after = 0
    async with InputDevice(CONFIG) as mic, OutputDevice(CONFIG) as speaker:
        async for block in mic:
            recorded.append(block)
            n = len(recorded) * BLOCK
            if n == 5 * BLOCK:
                speaker.write(tone)
            elif n == 20 * BLOCK:
                played_at_flush, flushed_at = speaker.played_samples, n
                speaker.flush()
            elif n == 30 * BLOCK:
                played_after = speaker.played_samples
            elif n >= 50 * BLOCK:
                break
    assert played_at_flush <= played_after <= played_at_flush + BLOCK
    loud = np.flatnonzero(np.abs(np.concatenate(recorded)) > 0.01)
    assert loud.size > 0, "the tone never came back"
    assert (loud[-1] - flushed_at) / RATE < 0.3, "sound went on after flush()"


@needs_pulse
async def test_closing_the_input_ends_iteration() -> None:
    """close() wakes a reader waiting in `async for`, which then ends instead of hanging."""
    mic = InputDevice(CONFIG)
    mic.start()

    async def count_blocks() -> int:
        return sum([1 async for _ in mic])

    reader = asyncio.create_task(count_blocks())
    await asyncio.sleep(0.1)
    mic.close()
    assert await asyncio.wait_for(reader, timeout=1.0) >= 1


@needs_pulse
def test_device_choice_by_default_index_and_name() -> None:
    """None picks the default, digits pick an index, and a name substring matches case-insensitively."""
    default = resolve_device(None, "output")
    assert default.default_output
    assert resolve_device(str(default.index), "output") == default
    assert resolve_device("PULSE", "input").name == "pulse"


@needs_pulse
@pytest.mark.parametrize("spec,problem", [("no-such-device", "matches no"), ("e", "matches several")])
def test_bad_device_names_list_the_devices(spec: str, problem: str) -> None:
    """An unknown or ambiguous name raises AudioDeviceError that lists the devices to choose from."""
    with pytest.raises(AudioDeviceError) as error:
        resolve_device(spec, "input")
    assert problem in str(error.value)
    assert "pulse" in str(error.value) and "default" in str(error.value)


def test_ring_keeps_order_across_wraparound() -> None:
    """Samples come out in the order written, in any write/read sizes, across the end of the buffer."""
    ring, rng = SampleRing(1000), np.random.default_rng(0)
    signal = np.arange(20000, dtype=np.float32)
    out = np.empty_like(signal)
    written = read = 0
    while read < len(signal):
        written += ring.write(signal[written : written + int(rng.integers(0, 700))])
        read += ring.read_into(out[read : read + int(rng.integers(0, 700))])
    np.testing.assert_array_equal(out, signal)


def test_ring_refuses_overflow_and_flushes_at_the_next_read() -> None:
    """A full ring takes no more; a flush drops what was written before it but keeps later writes."""
    ring = SampleRing(100)
    assert ring.write(np.ones(150, dtype=np.float32)) == 100
    ring.read_into(np.empty(30, dtype=np.float32))
    ring.request_flush()
    assert ring.available == 0
    ring.write(np.full(10, 2.0, dtype=np.float32))
    out = np.empty(20, dtype=np.float32)
    assert ring.fill(out) == 10
    np.testing.assert_array_equal(out, [2.0] * 10 + [0.0] * 10)


def test_missing_pulseaudio_fails_the_fixture_with_the_setup_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without pulseaudio on PATH the loopback fixture fails (never skips) and says to run `make setup`."""
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(pytest.fail.Exception, match="make setup"), running_pulseaudio(tmp_path):
        pass
