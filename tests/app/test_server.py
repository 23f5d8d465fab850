"""The realtime service end to end: a real server on port 0, real websocket clients, the tiny untrained
engine and a small random codec. The engine's words are noise, so these tests pin protocol behaviour."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import websockets
from wsclient import Client, pcm16

from app import protocol as p
from engine.tokenizer import PAD_ID

NO_VAD = {"type": "realtime", "audio": {"input": {"turn_detection": None}}}


async def _until_quiet(server, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while server.sessions and time.monotonic() < deadline:
        await asyncio.sleep(0.02)


async def test_session_lifecycle(serve, caplog):
    """created -> update (applied, unknown fields warned) -> close frees the session with one log line."""
    caplog.set_level(logging.INFO, logger="app.server")
    async with serve() as server, Client.connect(server) as c:
        created = await c.until("session.created")
        assert created["session"]["hark"]["codec"]["num_codebooks"] == 4
        assert created["session"]["audio"]["input"]["turn_detection"]["type"] == "server_vad"
        session = {**NO_VAD, "instructions": "be brief", "colour": "blue", "max_output_tokens": 7}
        await c.send("session.update", event_id="u1", session=session)
        updated = await c.until("session.updated")
        assert updated["session"]["instructions"] == "be brief"
        assert updated["session"]["audio"]["input"]["turn_detection"] is None
        assert updated["session"]["max_output_tokens"] == 7
        (warning,) = c.of("hark.warning")
        assert warning["warning"]["param"] == "session.colour" and warning["warning"]["event_id"] == "u1"
        assert len(server.sessions) == 1
        await c.ws.close()
        await _until_quiet(server)
        assert not server.sessions
    stops = [r.getMessage() for r in caplog.records if "stopped" in r.getMessage()]
    assert len(stops) == 1 and "steps" in stops[0]


async def test_spoken_question_gets_audio_and_transcripts(serve, question):
    """A spoken question, committed, then response.create: user transcript, audio deltas, monologue, done."""
    async with serve() as server, Client.connect(server) as c:
        await c.send("session.update", session={**NO_VAD, "max_output_tokens": 12})
        await c.append(pcm16(question))
        await c.send("input_audio_buffer.commit")
        await c.send("response.create")
        done = await c.until("response.done")
        metrics = await c.until("hark.metrics")
    user_item = c.of("input_audio_buffer.committed")[0]["item_id"]
    (completed,) = c.of("conversation.item.input_audio_transcription.completed")
    assert completed["item_id"] == user_item and isinstance(completed["transcript"], str)
    deltas = c.of("conversation.item.input_audio_transcription.delta")
    assert deltas and all(d["item_id"] == user_item and isinstance(d["delta"], str) for d in deltas)
    audio = c.of("response.output_audio.delta")
    assert len(audio) == 12  # one chunk per engine step, max_output_tokens steps
    assert all(len(base64.b64decode(a["delta"])) == 2 * 1280 for a in audio)
    rid, item = done["response"]["id"], done["response"]["output"][0]
    assert all(a["response_id"] == rid and a["item_id"] == item["id"] for a in audio)
    transcript = "".join(d["delta"] for d in c.of("response.output_audio_transcript.delta"))
    assert item["content"][0]["transcript"] == transcript
    assert done["response"]["status"] == "incomplete"
    assert done["response"]["status_details"]["reason"] == "max_output_tokens"
    assert metrics["response_id"] == rid and metrics["steps"] == 12
    assert set(metrics["stages_ms"]) == {"encode", "engine", "decode", "total"}


async def test_barge_in_cancels_within_one_chunk(serve, question):
    """User speech during a response cancels it at the step VAD confirms it: no audio after speech_started."""
    async with serve() as server, Client.connect(server) as c:
        td = {"type": "server_vad", "create_response": False, "min_speech_ms": 100}
        await c.send("session.update", session={"audio": {"input": {"turn_detection": td}}})
        await c.send("response.create")
        for _ in range(3):
            await c.until("response.output_audio.delta")
        await c.append(pcm16(question))
        started = await c.until("input_audio_buffer.speech_started")
        index = len(c.events)
        done = await c.until("response.done")
        metrics = await c.until("hark.metrics")
        await c.drain(0.5)
        engine_session = next(iter(server.sessions.values())).handle.session
        assert engine_session.muted  # silence() reached the engine
    assert done["response"]["status"] == "cancelled"
    assert done["response"]["status_details"]["reason"] == "turn_detected"
    between = [e["type"] for e in c.events[index : c.events.index(done)]]
    assert "response.output_audio.delta" not in between
    after = c.events[c.events.index(done) :]
    assert not [e for e in after if e["type"] == "response.output_audio.delta"]
    assert started["audio_start_ms"] >= 0
    assert (
        100 <= metrics["latency_ms"]["speech_onset_to_cancel"] <= 100 + 2 * 32
    )  # min_speech + 2 VAD windows


async def test_speech_shorter_than_min_speech_does_not_interrupt(serve, question):
    """With min_speech_ms longer than the utterance, the same speech is a blip: the response runs on."""
    async with serve() as server, Client.connect(server) as c:
        td = {"type": "server_vad", "create_response": False, "min_speech_ms": 5000}
        session = {"max_output_tokens": 30, "audio": {"input": {"turn_detection": td}}}
        await c.send("session.update", session=session)
        await c.send("response.create")
        await c.until("response.output_audio.delta")
        await c.append(pcm16(question[: 24000 * 2]))
        done = await c.until("response.done")
    assert not c.of("input_audio_buffer.speech_started")
    assert done["response"]["status"] == "incomplete"


@pytest.mark.parametrize("create_response", [True, False])
async def test_engine_initiated_speech_opens_a_response_only_with_create_response(
    serve, question, create_response
):
    """server_vad + create_response: the user's turn gets a response without response.create."""
    async with serve() as server, Client.connect(server) as c:
        td = {"type": "server_vad", "create_response": create_response}
        await c.send(
            "session.update", session={"max_output_tokens": 4, "audio": {"input": {"turn_detection": td}}}
        )
        await c.append(pcm16(np.concatenate([question, np.zeros(24000, np.float32)])))
        await c.send("input_audio_buffer.commit")
        if create_response:
            done = await c.until("response.done")
            assert done["response"]["status"] == "incomplete"
            assert len(c.of("response.output_audio.delta")) == 4
        else:
            await c.until("conversation.item.input_audio_transcription.completed")
            assert not c.of("response.created") and not c.of("response.output_audio.delta")


async def test_truncate_shortens_engine_context(serve):
    """conversation.item.truncate cuts the engine's history to what was played: later text becomes PAD."""
    async with serve() as server, Client.connect(server) as c:
        await c.send("session.update", session={**NO_VAD, "max_output_tokens": 6})
        await c.send("response.create")
        done = await c.until("response.done")
        session = next(iter(server.sessions.values())).handle.session
        spoken = [int(session.history.text[s % session.history.size]) for s in range(1, session.step)]
        item = done["response"]["output"][0]["id"]
        await c.send("conversation.item.truncate", item_id=item, content_index=0, audio_end_ms=100)
        truncated = await c.until("conversation.item.truncated")
        steps = session.step
        await c.append(pcm16(np.zeros(1280, np.float32)))  # one more step applies the queued control
        deadline = time.monotonic() + 5
        while session.step == steps and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        after = [int(session.history.text[s % session.history.size]) for s in range(1, steps)]
    assert truncated["audio_end_ms"] == 100
    assert any(t != PAD_ID for t in spoken)
    assert all(t == PAD_ID for t in after)


def _event(type: str, **fields) -> str:
    return json.dumps({"type": type, **fields})


async def test_bad_messages_get_errors_and_the_session_survives(serve):
    """Malformed input of each kind gets an error naming the event; oversize closes 1009; the server lives."""
    threshold = {"audio": {"input": {"turn_detection": {"threshold": 2}}}}
    bad = [
        ("{not json", "invalid_json"),
        ("[1, 2]", "invalid_event"),
        (_event("no.such.event", event_id="e1"), "unknown_event"),
        (_event("input_audio_buffer.append", audio="@@@", event_id="e2"), "invalid_base64"),
        (_event("input_audio_buffer.append", audio="AA==", event_id="e3"), "invalid_audio_length"),
        (_event("session.update", session=threshold, event_id="e4"), "invalid_value"),
        (_event("input_audio_buffer.commit", event_id="e5"), "input_audio_buffer_commit_empty"),
        (_event("response.cancel", event_id="e6"), "response_cancel_not_active"),
        (_event("conversation.item.truncate", item_id="x", audio_end_ms=5), "item_not_found"),
        (b"\x01\x01\x04\x00\x01\x00\x00\x00\x00\x00" + bytes(8), "binary_not_negotiated"),
    ]
    async with serve(max_message_bytes=64 * 1024) as server:
        async with Client.connect(server) as c:
            for message, _ in bad:
                await c.ws.send(message)
            await c.send("session.update", session={"instructions": "still here"}, event_id="ok")
            await c.until("session.updated")
            errors = c.of("error")
            assert [e["error"]["code"] for e in errors] == [code for _, code in bad]
            assert [e["error"]["event_id"] for e in errors[2:7]] == ["e1", "e2", "e3", "e4", "e5"]
            assert errors[5]["error"]["param"] == "session.audio.input.turn_detection.threshold"
            assert all(e["error"]["type"] == "invalid_request_error" for e in errors)
            assert all(e["error"]["message"] for e in errors)
            await c.ws.send("x" * (65 * 1024))
            with pytest.raises(websockets.ConnectionClosed):
                await c.until("never")
            assert c.ws.close_code == 1009
        async with Client.connect(server) as c2:
            await c2.until("session.created")


async def test_token_mode_binary_frames(serve, models):
    """Negotiated token mode: user codes in as kind-1 frames, assistant codes out as kind-2 frames."""
    engine, _ = models
    async with serve() as server, Client.connect(server) as c:
        fmt = {"type": p.TOKENS_FORMAT}
        session = {"max_output_tokens": 5, "audio": {"input": {"format": fmt, "turn_detection": None},
                                                     "output": {"format": fmt}}}  # fmt: skip
        await c.send("session.update", session=session)
        await c.until("session.updated")
        codes = np.random.default_rng(0).integers(0, 1024, (4, 8))
        await c.ws.send(p.encode_token_frame(p.TokenFrame(p.KIND_USER_CODES, codes, 0)))
        await c.ws.send(b"\x01\x09" + bytes(20))  # wrong version
        await c.send("input_audio_buffer.commit")
        await c.send("response.create")
        await c.until("response.done")
    assert [e["error"]["code"] for e in c.of("error")] == ["invalid_frame"]
    assert not c.of("response.output_audio.delta")
    assert len(c.binary) == 5
    header = [np.frombuffer(b[:10], np.uint8) for b in c.binary]
    assert all(h[0] == p.KIND_ASSISTANT_CODES and h[1] == 1 for h in header)
    indices = [int.from_bytes(b[6:10], "little") for b in c.binary]
    assert indices == [0, 4, 8, 12, 16]
    assert all(len(b) == 10 + 2 * engine.num_codebooks * engine.frames_per_step for b in c.binary)


async def test_api_key_required_off_loopback(serve):
    """Binding beyond loopback needs a key; the key is checked from Authorization: Bearer before upgrade."""
    with pytest.raises(ValueError, match="api-key"):
        async with serve(host="127.0.0.2"):
            pass
    async with serve(host="127.0.0.2", api_key="sekrit") as server:
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            with pytest.raises(websockets.InvalidStatus) as info:
                async with Client.connect(server, additional_headers=headers):
                    pass
            assert info.value.response.status_code == 401
        async with Client.connect(server, additional_headers={"Authorization": "Bearer sekrit"}) as c:
            await c.until("session.created")


async def test_503_when_full(serve):
    """At max_sessions the next upgrade gets HTTP 503 with a reason; a freed slot admits again."""
    async with serve(max_sessions=1) as server:
        async with Client.connect(server) as c:
            await c.until("session.created")
            with pytest.raises(websockets.InvalidStatus) as info:
                async with Client.connect(server):
                    pass
            assert info.value.response.status_code == 503
            assert b"sessions in use" in info.value.response.body
        await _until_quiet(server)
        async with Client.connect(server) as c:
            await c.until("session.created")


async def _answer(server, wav: np.ndarray) -> tuple[list[str], str]:
    async with Client.connect(server) as c:
        await c.send("session.update", session={**NO_VAD, "max_output_tokens": 8})
        await c.append(pcm16(wav))
        await c.send("input_audio_buffer.commit")
        await c.send("response.create")
        await c.until("response.done")
    return [a["delta"] for a in c.of("response.output_audio.delta")], "".join(
        d["delta"] for d in c.of("conversation.item.input_audio_transcription.delta")
    )


async def test_concurrent_sessions_are_independent(serve, question):
    """Two sessions at once each get exactly what the first one got alone (batched, seeded, no crosstalk)."""
    other = question[::-1].copy()
    async with serve() as server:
        alone = await _answer(server, question)
        together, second = await asyncio.gather(_answer(server, question), _answer(server, other))
    assert together == alone
    assert second[0] != alone[0]


async def test_client_that_stops_reading_is_disconnected(serve):
    """A client that sends but never reads passes the send-queue bound and is cut; its session is freed."""
    async with serve(send_queue_max=16) as server:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", server.port))
        url = f"ws://127.0.0.1:{server.port}/v1/realtime"
        async with websockets.connect(url, sock=sock, max_queue=1) as ws:
            for _ in range(3000):  # each gets an error event back that nobody reads
                await ws.send("{bad")
            await _until_quiet(server, timeout=10)
            assert not server.sessions
            with pytest.raises(websockets.ConnectionClosed):
                while True:
                    await asyncio.wait_for(ws.recv(), 10)
        assert ws.close_code in (1008, 1006)


async def test_input_faster_than_real_time_is_bounded(serve):
    """Audio beyond max_input_ahead_s ahead of real time is refused with an error; the session goes on."""
    async with serve(max_input_ahead_s=1.0) as server, Client.connect(server) as c:
        half, two = (base64.b64encode(bytes(2 * n)).decode() for n in (12000, 48000))
        await c.send("input_audio_buffer.append", audio=half)
        await c.send("input_audio_buffer.append", audio=two, event_id="big")
        await c.send("session.update", session={})
        await c.until("session.updated")
    (error,) = c.of("error")
    assert error["error"]["code"] == "input_rate_exceeded" and error["error"]["event_id"] == "big"


async def test_session_time_limit_and_shutdown(serve):
    """An expired session gets an error and close 1000; stopping the server cancels responses, closes 1001."""
    async with serve(max_session_s=0.5) as server, Client.connect(server) as c:
        with pytest.raises(websockets.ConnectionClosed):
            await c.until("never", timeout=10)
        assert c.of("error")[0]["error"]["code"] == "session_expired" and c.ws.close_code == 1000
    async with serve() as server:
        async with Client.connect(server) as c:
            await c.send("session.update", session=NO_VAD)
            await c.send("response.create")
            await c.until("response.output_audio.delta")
            await server.stop()
            with pytest.raises(websockets.ConnectionClosed):
                await c.until("never", timeout=10)
        done = c.of("response.done")[0]["response"]
        assert done["status"] == "cancelled" and c.ws.close_code == 1001


async def test_disconnect_mid_response_frees_the_engine_session(serve, models):
    """A client vanishing mid-response leaves no session and gives its cache row back."""
    engine, _ = models
    async with serve() as server:
        async with Client.connect(server) as c:
            await c.send("session.update", session=NO_VAD)
            await c.send("response.create")
            await c.until("response.output_audio.delta")
            free = len(engine.cache.free)
        await _until_quiet(server)
        deadline = time.monotonic() + 5
        while len(engine.cache.free) == free and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert not server.sessions and len(engine.cache.free) == free + 1


def test_hark_serve_exits_0_on_sigterm():
    """`hark serve` on the random models listens, and SIGTERM stops it with exit code 0."""
    cmd = [sys.executable, "-m", "app", "serve", "--engine", "random:tiny", "--codec", "random"]
    cmd += ["--port", "0"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        line = ""
        while "listening" not in line:
            line = proc.stdout.readline()
            assert line, "hark serve exited before listening"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
