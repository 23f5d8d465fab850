"""The client's audio pieces on their own: echo canceller, residual-echo check, near-end detector, playback
bookkeeping (real TTS speech, a paced array sink standing in for the sound card)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from audio.filedev import ArraySink
from audio.levels import rms_dbfs
from audio.tts import Voice, synthesize
from ui.bargein import NearEndDetector
from ui.echo import EchoCanceller, ResidualEcho
from ui.playback import Playback

RATE = 24000
BLOCK = 480
DELAY = int(0.09 * RATE)  # a speaker -> microphone delay like the null-sink loopback's


@pytest.fixture(scope="module")
def voices() -> tuple[np.ndarray, np.ndarray]:
    """(assistant's voice, user's voice): flite rms and espeak-ng, float32 24 kHz."""
    text = "seventeen plus five is twenty two. I am hark, your desk assistant, and it is five past two."
    assistant = 0.5 * synthesize(text, Voice("flite", "rms"))
    user = 0.3 * synthesize("what is the weather like today", Voice("espeak-ng", "en-us+f2"))
    return assistant, user


def _echo(signal: np.ndarray, gain: float = 0.7) -> np.ndarray:
    return gain * np.concatenate([np.zeros(DELAY, np.float32), signal[:-DELAY]])


def test_canceller_removes_the_echo_and_keeps_the_user(voices):
    """Echo of the assistant's voice is reduced by over 30 dB after convergence; a user talking over it
    keeps their level within a few dB."""
    assistant, user = voices
    n = len(assistant) // BLOCK * BLOCK
    near = np.zeros(n, np.float32)
    start = n - len(user) - RATE // 2
    near[start : start + len(user)] = user
    mic = _echo(assistant)[:n] + near
    aec = EchoCanceller(RATE, delay_ms=90)
    out = np.zeros(n, np.float32)
    estimate = None  # the canceller's own echo-reduction figure, just before the user talks
    for i in range(0, n, BLOCK):
        aec.render(assistant[i : i + BLOCK])
        out[i : i + BLOCK] = aec.capture(mic[i : i + BLOCK])
        estimate = aec.echo_reduction_db if i < start else estimate
    echo_only = slice(2 * RATE, start)  # after the canceller's first two seconds
    assert rms_dbfs(mic[echo_only]) - rms_dbfs(out[echo_only]) > 30.0
    assert estimate is not None and estimate > 20.0
    talk = slice(start, start + len(user))
    assert abs(rms_dbfs(out[talk]) - rms_dbfs(user)) < 6.0


def test_residual_echo_check_tells_echo_from_a_person(voices):
    """The speaker's own sound coming back matches the reference; another voice does not."""
    assistant, user = voices
    check = ResidualEcho(RATE)
    stretch = slice(RATE, RATE + 12 * BLOCK)
    echo = _echo(assistant, 0.01)  # what a canceller still lets through: weak, but the same sound
    for i in range(stretch.start, stretch.stop, BLOCK):
        check.add(assistant[i : i + BLOCK], echo[i : i + BLOCK])
    assert check.likely() and check.correlation > 0.9
    for i in range(0, 12 * BLOCK, BLOCK):
        check.add(assistant[stretch.stop + i : stretch.stop + i + BLOCK], user[i + BLOCK : i + 2 * BLOCK])
    assert not check.likely() and check.correlation < 0.5


def test_detector_ignores_clicks_follows_noise_and_hears_speech(voices):
    """A 50 ms click starts nothing; steady noise lifts the floor and soon stops counting as speech; speech
    over it starts within min_speech_ms and stops after the hangover."""
    _, user = voices
    rng = np.random.default_rng(0)
    detector = NearEndDetector()
    events = []

    def feed(signal: np.ndarray) -> None:
        for i in range(0, len(signal) // BLOCK * BLOCK, BLOCK):
            events.append(detector.update(signal[i : i + BLOCK]))

    feed(np.concatenate([np.zeros(RATE // 2), 0.3 * rng.standard_normal(1200), np.zeros(RATE // 2)]))
    assert "started" not in events
    noise = 0.01 * rng.standard_normal(8 * RATE).astype(np.float32)  # -40 dBFS fan noise, 8 s
    feed(noise)
    assert detector.floor_dbfs > -45.0 and not detector.speaking and events[-1] is None
    events.clear()
    feed(noise[: len(user)] + user)
    assert events.count("started") == 1
    feed(noise[:RATE])
    assert events[-1] is None and not detector.speaking and "stopped" in events


def test_echo_check_vetoes_loud_echo_only():
    """A loud block the echo check calls residual echo is not speech; the same block otherwise is."""
    loud = (0.1 * np.sin(np.arange(RATE) * 0.3)).astype(np.float32)
    vetoed, plain = NearEndDetector(), NearEndDetector()
    for i in range(0, RATE, BLOCK):
        vetoed.update(loud[i : i + BLOCK], lambda: True)
        plain.update(loud[i : i + BLOCK])
    assert not vetoed.speaking and plain.speaking


async def test_playback_knows_what_was_heard_and_flushes_at_once():
    """Items start where the queue ends; heard = played - latency, clipped to the item; a flush stops the
    sink within a block and caps what counts as heard; late audio of a cut item is dropped."""
    sink = ArraySink(RATE, BLOCK, realtime=True)
    sink.start()
    playback = Playback(sink, latency_s=0.02)
    playback.write("a", np.full(RATE // 2, 0.1, np.float32))
    playback.write("b", np.full(RATE // 2, 0.2, np.float32))
    assert playback.items["b"].start == playback.items["a"].start + RATE // 2
    await asyncio.sleep(0.3)
    heard = playback.heard("a")
    assert 0.15 * RATE < heard < 0.3 * RATE and playback.heard("b") == 0 and playback.audible
    playback.flush()
    played = sink.played_samples
    await asyncio.sleep(0.1)
    assert sink.played_samples - played <= BLOCK
    cap = playback.items["a"].cap
    assert (
        cap is not None and playback.heard("a") <= cap and playback.heard_ms("a") == playback.heard("a") // 24
    )
    playback.write("a", np.ones(BLOCK, np.float32))  # a late delta of the cut item
    assert playback.queued == 0
    reference = sink.read_output()  # the canceller's reference: what played before the flush, then silence
    assert np.count_nonzero(reference) > 0.25 * RATE and not np.any(reference[-BLOCK:])
    assert len(sink.read_output()) < 2 * BLOCK  # each call returns only what is new
    sink.close()
