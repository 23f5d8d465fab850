"""Property test: random sequences of client events (valid and broken) never break a session's promises."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.sync.client import connect

from app.server import ServerConfig, running_server


@pytest.fixture(scope="module")
def server(models):
    """A real server on port 0 running in its own event-loop thread for the whole module."""
    loop = asyncio.new_event_loop()
    ready, stop = threading.Event(), asyncio.Event()
    holder = {}

    async def main():
        async with running_server(ServerConfig(port=0, seed=0, max_input_ahead_s=5.0), *models) as srv:
            holder["server"] = srv
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(60)
    yield holder["server"]
    loop.call_soon_threadsafe(stop.set)
    thread.join(30)


def _append(samples: int) -> dict:
    return {"type": "input_audio_buffer.append", "audio": base64.b64encode(bytes(samples)).decode()}


turn_detection = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {"type": st.just("server_vad")},
        optional={
            "threshold": st.floats(-1, 2),
            "silence_duration_ms": st.integers(-10, 2000),
            "min_speech_ms": st.integers(0, 500),
            "create_response": st.booleans(),
            "interrupt_response": st.booleans(),
        },
    ),
)


def _update(td: dict | None, limit: int) -> dict:
    return {
        "type": "session.update",
        "session": {"audio": {"input": {"turn_detection": td}}, "max_output_tokens": limit},
    }


events = st.one_of(
    st.builds(_update, turn_detection, st.integers(-1, 6)),
    st.builds(_append, st.integers(0, 6000)),
    st.sampled_from(
        [
            {"type": "input_audio_buffer.commit"},
            {"type": "input_audio_buffer.clear"},
            {"type": "response.cancel"},
            {"type": "response.create", "response": {"max_output_tokens": 3}},
            {
                "type": "conversation.item.create",
                "item": {"role": "user", "content": [{"type": "input_text", "text": "hi"}]},
            },
            {"type": "conversation.item.truncate", "item_id": "item_nope", "audio_end_ms": 10},
            {"type": "session.update", "session": {"audio": {"output": {"format": {"type": "audio/pcmu"}}}}},
        ]
    ),
    st.text(max_size=30),
    st.binary(max_size=30),
)


def _check(received: list[dict]) -> None:
    """Every event is well formed; responses are created once, done once, and carry audio only in between."""
    open_responses, finished = set(), set()
    for event in received:
        assert isinstance(event["type"], str) and event["event_id"].startswith("event_")
        if event["type"] == "error":
            assert event["error"]["type"] == "invalid_request_error" and event["error"]["message"]
        elif event["type"] == "response.created":
            rid = event["response"]["id"]
            assert rid not in open_responses | finished
            open_responses.add(rid)
        elif event["type"] == "response.done":
            rid = event["response"]["id"]
            assert rid in open_responses and event["response"]["status"] in (
                "completed",
                "cancelled",
                "incomplete",
            )
            open_responses.remove(rid)
            finished.add(rid)
        elif event["type"] == "response.output_audio.delta":
            assert event["response_id"] in open_responses
    assert len(open_responses) <= 1


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=st.lists(events, min_size=1, max_size=8))
def test_random_event_sequences_keep_the_session_sound(server, sequence):
    """Whatever a client sends, the session answers with well-formed events and stays alive."""
    received = []
    with connect(f"ws://127.0.0.1:{server.port}/v1/realtime") as ws:
        for event in sequence:
            ws.send(json.dumps(event) if isinstance(event, dict) else event)
        marker = f"sentinel {time.monotonic()}"
        ws.send(json.dumps({"type": "session.update", "session": {"instructions": marker}}))
        while True:
            message = ws.recv(timeout=20)
            assert isinstance(message, str)  # no token format was negotiated: no binary frames
            received.append(json.loads(message))
            if (
                received[-1]["type"] == "session.updated"
                and received[-1]["session"]["instructions"] == marker
            ):
                break
    _check(received)
    deadline = time.monotonic() + 5
    while server.sessions and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not server.sessions
