"""Session behaviour that rests on the engine's control hooks: response.create makes the engine speak,
barge-in does not wait for the engine, truncation lands where the client stopped playing, the clock line
stays current. Real server on port 0, tiny untrained engine, small random codec."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest
from shaped_engines import deaf_engine, quiet_engine
from wsclient import Client, pcm16

from app import protocol as p
from app.protocol import ServerEvents as E
from app.server import ServerConfig, running_server
from app.session import OVERLAP_GUARD_MS, TRANSCRIPT_SPEECH_STEPS
from audio.tts import Voice, synthesize
from engine.tokenizer import PAD_ID

NO_VAD = {"type": "realtime", "audio": {"input": {"turn_detection": None}}}


@pytest.fixture(scope="module")
def quiet_models(models):
    """(Engine, Codec) whose engine never speaks on its own, so only start_turn can make it talk."""
    return quiet_engine(seed=3), models[1]


def engine_session(server):
    return next(iter(server.sessions.values())).handle.session


async def test_response_create_makes_a_silent_engine_speak(quiet_models):
    """response.create: the engine starts a turn at the step after the input it was sent after."""
    config = ServerConfig(port=0, seed=0)
    async with running_server(config, *quiet_models) as server, Client.connect(server) as c:
        await c.send("session.update", session={**NO_VAD, "max_output_tokens": 4})
        await c.append(pcm16(np.zeros(4 * 1280, np.float32)))
        await c.send("input_audio_buffer.commit")
        await c.send("response.create")
        done = await c.until("response.done", timeout=6)
        session = engine_session(server)
    assert done["response"]["status"] == "incomplete"  # it spoke for all max_output_tokens steps
    assert len(c.of("response.output_audio.delta")) == 4
    assert session.turn_start_chunk == 4 + 1  # its first word came at the step after the 4 input chunks


async def test_barge_in_does_not_wait_for_the_engine(serve, question, models):
    """Server VAD runs as audio arrives: speech cancels the response while the engine cannot step."""
    engine, _ = models
    async with serve() as server, Client.connect(server) as c:
        td = {"type": "server_vad", "create_response": False, "min_speech_ms": 64}
        await c.send("session.update", session={"audio": {"input": {"turn_detection": td}}})
        await c.send("response.create")
        await c.until("response.output_audio.delta")
        held, release = threading.Event(), threading.Event()

        def stall_engine() -> None:
            with engine.cache.lock:  # what a long batched step does
                held.set()
                release.wait(10)

        staller = threading.Thread(target=stall_engine)
        staller.start()
        try:
            held.wait(5)
            steps = engine_session(server).step
            await c.append(pcm16(question))
            done = await c.until("response.done", timeout=5)
            assert engine_session(server).step <= steps + 1  # the engine did not get to hear the speech
        finally:
            release.set()
            staller.join()
    assert done["response"]["status_details"]["reason"] == "turn_detected"


async def test_after_a_barge_in_the_engine_answers_once_vad_ends_the_users_turn(models, question):
    """The engine's mute after a barge-in lifts when server VAD ends the user's turn, even for a model that
    transcribes nothing (whose own transcript would never say the turn ended): a new response follows."""
    config = ServerConfig(port=0, seed=0)
    async with running_server(config, deaf_engine(seed=0), models[1]) as server, Client.connect(server) as c:
        td = {"type": "server_vad", "create_response": True, "min_speech_ms": 100}
        await c.send("session.update", session={"audio": {"input": {"turn_detection": td}}})
        await c.send("response.create")
        await c.append(pcm16(np.zeros(2 * 1280, np.float32)))
        first = await c.until("response.created")
        await c.append(pcm16(np.concatenate([question, np.zeros(24000, np.float32)])))
        done = await c.until("response.done")
        await c.until("input_audio_buffer.speech_stopped")
        second = await c.until("response.created", timeout=10)
    assert done["response"]["id"] == first["response"]["id"]
    assert done["response"]["status_details"]["reason"] == "turn_detected"
    assert second["response"]["id"] != first["response"]["id"]


async def test_no_response_is_created_before_the_user_has_spoken(models, question):
    """server_vad + create_response: an engine that talks whenever it may (untrained) stays unanswered in
    the silence before the user's first turn, and again after its answer; the user's turn gets one."""
    config = ServerConfig(port=0, seed=0)
    async with running_server(config, deaf_engine(seed=0), models[1]) as server, Client.connect(server) as c:
        td = {"type": "server_vad", "create_response": True, "silence_duration_ms": 300}
        session = {"max_output_tokens": 8, "audio": {"input": {"turn_detection": td}}}
        await c.send("session.update", session=session)
        await c.append(pcm16(np.zeros(48000, np.float32)))  # two seconds of silence, 23 engine steps
        rs = next(iter(server.sessions.values()))
        deadline = time.monotonic() + 20
        while rs.stats["steps"] < 20 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        silent_steps = rs.stats["steps"]
        before = list(c.of("response.created"))
        await c.append(pcm16(np.concatenate([question, np.zeros(24000, np.float32)])))
        created = await c.until("response.created", timeout=20)
        await c.until("response.done", timeout=20)
        await c.append(pcm16(np.zeros(36000, np.float32)))  # after the answer, silence again
        deadline = time.monotonic() + 20
        while rs.stats["steps"] < silent_steps + 60 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    assert silent_steps >= 20 and before == []
    assert c.events.index(c.of("input_audio_buffer.speech_started")[0]) < c.events.index(created)
    assert len(c.of("response.created")) == 1


async def test_a_turn_the_engine_lets_pass_gets_an_answer(quiet_models, question):
    """server_vad + create_response: an engine that would stay silent is asked to answer as soon as it has
    heard the turn VAD committed (silence_duration_ms after the speech); it answers once."""
    config = ServerConfig(port=0, seed=0, audio_temperature=0.0)  # sampled ties would not be silence
    async with running_server(config, *quiet_models) as server, Client.connect(server) as c:
        td = {"type": "server_vad", "create_response": True, "silence_duration_ms": 500}
        session = {"max_output_tokens": 6, "audio": {"input": {"turn_detection": td}}}
        await c.send("session.update", session=session)
        audio = np.concatenate([question, np.zeros(36000, np.float32)])
        for start in range(0, len(audio), 960):  # real-time pace, 40 ms packets: VAD runs ahead
            await c.append(pcm16(audio[start : start + 960]))
            await asyncio.sleep(0.04)
        stopped = await c.until("input_audio_buffer.speech_stopped")
        created = await c.until("response.created")
        done = await c.until("response.done")
        rs = next(iter(server.sessions.values()))
    assert c.events.index(stopped) < c.events.index(created)
    assert done["response"]["status"] == "incomplete"  # it spoke for all max_output_tokens steps
    assert len(c.of("response.output_audio.delta")) == 6 and len(c.of("response.created")) == 1
    first_chunk = rs.responses._items[done["response"]["output"][0]["id"]].first_chunk
    answer_ms = first_chunk * 1000 * rs._step_s - stopped["audio_end_ms"]
    print(f"answer starts {answer_ms:.0f} ms after the end of speech")
    assert 400 <= answer_ms <= 700  # VAD's 500 ms of silence (less its window), then a step or two


async def test_item_truncate_cuts_the_engine_where_the_client_stopped(serve):
    """conversation.item.truncate: the engine keeps the monologue before the played position, PAD after."""
    async with serve() as server, Client.connect(server) as c:
        await c.send("session.update", session={**NO_VAD, "max_output_tokens": 8})
        await c.send("response.create")
        done = await c.until("response.done")
        rs = next(iter(server.sessions.values()))
        session = rs.handle.session
        h = session.history
        item = done["response"]["output"][0]["id"]
        first = rs.responses._items[item].first_chunk
        spoken = [int(h.text[s % h.size]) for s in range(session.step)]
        await c.send("conversation.item.truncate", item_id=item, content_index=0, audio_end_ms=200)
        await c.until("conversation.item.truncated")
        steps = session.step
        await c.append(pcm16(np.zeros(1280, np.float32)))  # one more step applies the queued control
        deadline = time.monotonic() + 5
        while session.step == steps and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        after = [int(h.text[s % h.size]) for s in range(steps)]
    cut_chunk = (first * 4 + 15) // 4  # 200 ms = 15 frames into the response
    assert after[:cut_chunk] == spoken[:cut_chunk]
    assert any(t != PAD_ID for t in spoken[cut_chunk:]) and all(t == PAD_ID for t in after[cut_chunk:])


async def test_clock_line_is_refreshed_at_each_user_turn(serve):
    """A new minute reaches the engine at the next commit, replacing the old clock line (not adding one)."""
    now = ["time one"]
    async with serve() as server, Client.connect(server) as c:
        # the service's own clock words the time as the engine's training data did (spoken: no digits)
        assert server.runtime.engine.clock_context == "spoken"
        line = server.runtime.clock()
        assert line.startswith("current time: ") and not any(ch.isdigit() for ch in line)
        server.runtime.clock = lambda: now[0]
        await c.send("session.update", session=NO_VAD)
        for line in ("time one", "time two"):
            now[0] = line
            await c.append(pcm16(np.zeros(2 * 1280, np.float32)))
            await c.send("input_audio_buffer.commit")
            await c.until("conversation.item.input_audio_transcription.completed")
        session = engine_session(server)
        segments = session.cache.segments
        tokens = session.engine.tokenizer.encode_context("time two")
    assert [s.key for s in segments].count("clock") == 1
    assert next(s for s in segments if s.key == "clock").tokens == tokens


async def test_response_pauses_while_speech_may_be_starting_and_resumes_after_a_blip(serve):
    """Speech shorter than min_speech_ms holds the response's deltas, then they all go out and it goes on."""
    hum = synthesize("hm", Voice("espeak-ng", "en-us+m1"))  # one ~0.5 s run of speech for silero
    async with serve() as server, Client.connect(server) as c:
        td = {"type": "server_vad", "create_response": False, "min_speech_ms": 1500}
        session = {"max_output_tokens": 40, "audio": {"input": {"turn_detection": td}}}
        await c.send("session.update", session=session)
        await c.send("response.create")
        arrivals = []

        async def receive() -> dict:
            while True:
                event = await c.until(lambda e: e["type"] in (E.AUDIO_DELTA, E.RESPONSE_DONE))
                if event["type"] == E.RESPONSE_DONE:
                    return event
                arrivals.append(time.monotonic())

        receiver = asyncio.create_task(receive())
        audio = np.concatenate([np.zeros(12000, np.float32), hum, np.zeros(36000, np.float32)])
        for start in range(0, len(audio), 960):  # real-time pace, 40 ms packets
            await c.append(pcm16(audio[start : start + 960]))
            await asyncio.sleep(0.04)
        done = await asyncio.wait_for(receiver, 20)
    assert not c.of("input_audio_buffer.speech_started")
    assert done["response"]["status"] == "incomplete" and len(c.of("response.output_audio.delta")) == 40
    assert max(np.diff(arrivals)) > 0.35  # held while the voice lasted, then released at once


async def test_token_mode_counts_the_user_as_talking_only_just_after_a_transcribed_word(serve):
    """Token mode has no audio for VAD: the overlap guard runs from the engine's last transcribed piece (a
    word's end), so an answer ~200 ms after the last word is not taken for talking over the user."""
    async with serve() as server, Client.connect(server) as c:
        fmt = {"type": p.TOKENS_FORMAT}
        td = {"type": "server_vad", "create_response": True}
        await c.send("session.update", session={"audio": {"input": {"format": fmt, "turn_detection": td}}})
        await c.until("session.updated")
        rs = next(iter(server.sessions.values()))
        rs._heard_at_step = 10
        step_ms = 1000 * rs._step_s
        talking = [s for s in range(10, 20) if rs._user_talking(s)]
    assert talking == [s for s in range(10, 20) if (s - 10) * step_ms < OVERLAP_GUARD_MS] == [10, 11, 12]
    assert TRANSCRIPT_SPEECH_STEPS * step_ms > 200  # the VAD window alone would still say "talking"
