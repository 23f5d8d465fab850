"""The official `openai` SDK's realtime client works against `hark serve` unchanged (with an API key)."""

from __future__ import annotations

import base64

import pytest
from openai import AsyncOpenAI
from openai.types.realtime import (
    ResponseAudioDeltaEvent,
    ResponseAudioTranscriptDeltaEvent,
    ResponseDoneEvent,
    SessionUpdatedEvent,
)
from wsclient import pcm16


async def test_openai_realtime_client_round_trip(serve, question):
    """connect -> session.update -> append/commit -> response.create -> typed deltas -> response.done."""
    async with serve(api_key="sk-test") as server:
        client = AsyncOpenAI(api_key="sk-test", websocket_base_url=f"ws://127.0.0.1:{server.port}/v1")
        async with client.realtime.connect(model="hark") as conn:
            session = {
                "type": "realtime",
                "max_output_tokens": 6,
                "audio": {"input": {"turn_detection": None}},
            }
            await conn.session.update(session=session)
            await conn.input_audio_buffer.append(audio=base64.b64encode(pcm16(question[:24000])).decode())
            await conn.input_audio_buffer.commit()
            await conn.response.create()
            events = []
            async for event in conn:
                events.append(event)
                if event.type == "hark.metrics":
                    break
    kinds = [type(e) for e in events]
    assert SessionUpdatedEvent in kinds
    audio = [e for e in events if isinstance(e, ResponseAudioDeltaEvent)]
    assert len(audio) == 6 and all(len(base64.b64decode(e.delta)) == 2560 for e in audio)
    assert all(isinstance(e.delta, str) for e in events if isinstance(e, ResponseAudioTranscriptDeltaEvent))
    (done,) = [e for e in events if isinstance(e, ResponseDoneEvent)]
    assert done.response.status == "incomplete" and done.response.status_details.reason == "max_output_tokens"
    assert done.response.output[0].id == audio[0].item_id
    assert not [e for e in events if e.type == "error"]


async def test_openai_client_with_wrong_key_is_refused(serve):
    """The SDK's Authorization header is what the server checks: a wrong key fails the upgrade."""
    async with serve(api_key="sk-test") as server:
        client = AsyncOpenAI(api_key="sk-wrong", websocket_base_url=f"ws://127.0.0.1:{server.port}/v1")
        with pytest.raises(Exception, match="401"):
            async with client.realtime.connect(model="hark"):
                pass
