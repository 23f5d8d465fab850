"""Tests for audio/filedev.py: array/file sources and sinks, unpaced and paced like a real device."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import pytest

from audio.filedev import ArraySink, ArraySource
from audio.wavio import read_wav, write_wav

RATE, BLOCK = 24000, 480


def _ramp(n: int) -> np.ndarray:
    return np.linspace(-0.5, 0.5, n, dtype=np.float32)


async def test_unpaced_source_cuts_blocks_and_pads_the_last() -> None:
    """Blocks are consecutive slices of the array; the last is zero-padded; iteration then stops."""
    samples = _ramp(5 * BLOCK + 100)
    blocks = [block async for block in ArraySource(samples)]
    assert len(blocks) == 6 and all(b.shape == (BLOCK,) and b.dtype == np.float32 for b in blocks)
    joined = np.concatenate(blocks)
    np.testing.assert_array_equal(joined[: len(samples)], samples)
    assert not joined[len(samples) :].any()


async def test_read_after_the_end_raises_eof() -> None:
    """`read()` past the last block raises EOFError (what ends `async for`)."""
    source = ArraySource(_ramp(BLOCK))
    await source.read()
    with pytest.raises(EOFError):
        await source.read()


async def test_paced_source_hands_out_blocks_in_real_time() -> None:
    """Paced, 10 blocks of 20 ms take about 200 ms (a block exists only once it would have been captured)."""
    source = ArraySource(np.zeros(10 * BLOCK, dtype=np.float32), realtime=True)
    start = time.monotonic()
    count = sum([1 async for _ in source])
    elapsed = time.monotonic() - start
    assert count == 10
    assert 0.19 <= elapsed < 0.5, f"10 paced blocks took {elapsed:.3f} s"


async def test_source_from_wav_resamples_to_24k(tmp_path: Path) -> None:
    """A 16 kHz WAV file is read as 24 kHz blocks of the same duration and tone."""
    t = np.arange(16000) / 16000
    write_wav(tmp_path / "tone.wav", 0.5 * np.sin(2 * np.pi * 440 * t), 16000)
    audio = np.concatenate([b async for b in ArraySource.from_wav(tmp_path / "tone.wav")])
    assert len(audio) == 24000  # one second at 24 kHz, exactly 50 blocks
    spectrum = np.abs(np.fft.rfft(audio))
    assert abs(np.argmax(spectrum) * RATE / len(audio) - 440) <= 1.0


async def test_unpaced_sink_records_writes_and_saves(tmp_path: Path) -> None:
    """Unpaced, every write is played at once, counted, given back by read_output, and saved to a WAV
    that reads back the same."""
    sink = ArraySink()
    sink.write(_ramp(1000))
    np.testing.assert_array_equal(sink.read_output(), _ramp(1000))  # what it put out since the last call
    sink.write(_ramp(500))
    await sink.drain()
    assert sink.played_samples == 1500
    np.testing.assert_array_equal(sink.read_output(), _ramp(500))
    sink.save(tmp_path / "out.wav")
    audio, rate = read_wav(tmp_path / "out.wav")
    assert rate == RATE
    np.testing.assert_allclose(audio, np.concatenate([_ramp(1000), _ramp(500)]), atol=1 / 32767)


async def test_paced_sink_plays_silence_and_counts_underruns() -> None:
    """Paced, the timeline holds what was written, then silence (one block per tick, underruns counted)."""
    async with ArraySink(realtime=True) as sink:
        sink.write(_ramp(5 * BLOCK))
        await asyncio.sleep(0.2)  # 10 ticks: 5 with audio, about 5 of silence
        await sink.drain()
    audio = sink.audio
    np.testing.assert_array_equal(sink.read_output(), audio)  # the speaker's timeline, silence included
    assert sink.played_samples == 5 * BLOCK
    np.testing.assert_array_equal(audio[: 5 * BLOCK], _ramp(5 * BLOCK))
    assert len(audio) >= 8 * BLOCK and not audio[5 * BLOCK :].any()
    assert sink.underruns == len(audio) // BLOCK - 5


async def test_paced_sink_flush_stops_playback_within_one_block() -> None:
    """After flush(), at most one more block of the queued audio is played and the rest is dropped."""
    async with ArraySink(realtime=True) as sink:
        sink.write(np.full(RATE, 0.25, dtype=np.float32))
        await asyncio.sleep(0.1)
        played_at_flush = sink.played_samples
        sink.flush()
        await asyncio.sleep(0.1)
    assert sink.queued_samples == 0
    assert played_at_flush <= sink.played_samples <= played_at_flush + BLOCK
    assert np.count_nonzero(sink.audio) == sink.played_samples
