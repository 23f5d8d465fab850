"""The session's input buffer and server VAD reading it ahead of the engine (real silero, real speech)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from app.media import InputBuffer, VadReader
from audio.vad import SileroVad


@pytest.fixture(scope="module")
def vad() -> SileroVad:
    return SileroVad()


def test_input_buffer_pops_peeks_fills_and_drops():
    """Chunks come out across appends, peeks leave them in, fill pads with silence, drops cut the newest."""
    buf = InputBuffer(np.zeros((), np.float32), head=100)
    buf.push(np.arange(3, dtype=np.float32))
    buf.push(np.arange(3, 8, dtype=np.float32))
    np.testing.assert_array_equal(buf.peek(2, 3), [2, 3, 4])
    np.testing.assert_array_equal(buf.pop(4), [0, 1, 2, 3])
    assert (buf.head, buf.size, buf.end) == (104, 4, 108)
    np.testing.assert_array_equal(buf.peek(3, 5), [7])
    buf.drop_tail(2)
    buf.fill(4)
    np.testing.assert_array_equal(buf.pop(4), [4, 5, 0, 0])
    codes = InputBuffer(np.array([7, 8]))
    codes.push(np.ones((2, 3), np.int64))
    codes.pad_to(4)
    np.testing.assert_array_equal(codes.pop(4), [[1, 1, 1, 7], [1, 1, 1, 8]])


async def test_vad_reads_every_sample_once_in_order(vad, question):
    """Reads on arrival (20 ms packets) and by the engine (53 ms chunks) analyse the timeline exactly once."""
    speech = question[: 24000 * 2]
    with ThreadPoolExecutor(1) as pool:
        reader = VadReader(vad, pool)
        buf = InputBuffer(np.zeros((), np.float32))
        probs = []
        for start in range(0, len(speech), 480):
            buf.push(speech[start : start + 480])
            if start % 1440 == 0:  # on arrival (not every time: then the engine's reads have work too)
                got, position = await reader.read(buf)
                probs += got
                assert position == buf.end
            if buf.size >= 1280:  # the engine takes a chunk once VAD has seen it
                got, _ = await reader.read(buf, buf.head + 1280)
                probs += got
                buf.pop(1280)
    expected = vad.stream().process(speech)
    np.testing.assert_allclose(probs, expected, atol=1e-6)
    assert max(expected) > 0.5  # real speech: the comparison covers voiced windows


async def test_vad_reset_drops_a_read_in_flight(vad, question):
    """A reset (cleared input) while silero runs discards that result and resumes at the given position."""
    with ThreadPoolExecutor(1) as pool:
        reader = VadReader(vad, pool)
        buf = InputBuffer(np.zeros((), np.float32))
        buf.push(question[:24000])
        read = asyncio.ensure_future(reader.read(buf))
        await asyncio.sleep(0)  # the read has taken its samples and waits for silero
        buf.drop_tail(24000)
        reader.reset(0)
        assert await read == ([], 0)
        buf.push(question[:4800])
        got, position = await reader.read(buf)
    assert position == 4800 and len(got) == 4800 * 2 // 3 // 512
