"""The wire format on its own: client event parsing and validation, session.update merging, token frames,
PCM16 coding, server event shapes and the input buffer."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from app import events as ev
from app import protocol as p
from app.responses import Responses


def parse(type: str, **fields):
    return p.parse_client_event(json.dumps({"type": type, **fields}))


def test_client_events_parse_to_typed_dataclasses():
    """Each supported client event becomes its dataclass with the fields decoded."""
    pcm = np.array([0, 1, -2, 32767], "<i2")
    append = parse("input_audio_buffer.append", audio=base64.b64encode(pcm.tobytes()).decode(), event_id="a")
    assert isinstance(append, p.AudioAppend) and append.event_id == "a"
    np.testing.assert_array_equal(append.pcm, pcm)
    assert isinstance(parse("input_audio_buffer.commit"), p.AudioCommit)
    assert isinstance(parse("input_audio_buffer.clear"), p.AudioClear)
    trunc = parse("conversation.item.truncate", item_id="i", content_index=0, audio_end_ms=250)
    assert (trunc.item_id, trunc.audio_end_ms) == ("i", 250)
    item = parse(
        "conversation.item.create",
        item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
    )
    assert (item.item_type, item.role, item.text) == ("message", "user", "hi")
    output = parse(
        "conversation.item.create", item={"type": "function_call_output", "call_id": "c", "output": "ok"}
    )
    assert (output.item_type, output.call_id, output.text) == ("function_call_output", "c", "ok")
    create = parse(
        "response.create", response={"instructions": "short", "max_output_tokens": 9, "voice": "x"}
    )
    assert (create.instructions, create.max_output_tokens, create.max_output_tokens_set) == ("short", 9, True)
    assert [w.param for w in create.warnings] == ["response.voice"]
    assert parse("response.cancel", response_id="r").response_id == "r"


@pytest.mark.parametrize(
    ("message", "code", "param"),
    [
        ("nope", "invalid_json", None),
        ('"a string"', "invalid_event", None),
        ('{"event_id": 3, "type": "input_audio_buffer.commit"}', "invalid_value", "event_id"),
        ('{"event_id": "x"}', "invalid_event", "type"),
        ('{"type": "what.ever", "event_id": "x"}', "unknown_event", "type"),
        ('{"type": "conversation.item.delete", "event_id": "x"}', "unsupported_event", "type"),
        ('{"type": "input_audio_buffer.append", "audio": 5, "event_id": "x"}', "invalid_value", "audio"),
        ('{"type": "input_audio_buffer.append", "audio": "!!", "event_id": "x"}', "invalid_base64", "audio"),
        (
            '{"type": "input_audio_buffer.append", "audio": "AAAA", "event_id": "x"}',
            "invalid_audio_length",
            "audio",
        ),
        (
            '{"type": "conversation.item.truncate", "item_id": "i", "audio_end_ms": -1, "event_id": "x"}',
            "invalid_value",
            "audio_end_ms",
        ),
        (
            '{"type": "conversation.item.truncate", "item_id": "i", "audio_end_ms": 1.5, "event_id": "x"}',
            "invalid_value",
            "audio_end_ms",
        ),
        (
            json.dumps(
                {
                    "type": "conversation.item.create",
                    "event_id": "x",
                    "item": {"content": [{"type": "input_audio"}]},
                }
            ),
            "invalid_value",
            "item.content[0].type",
        ),
        (
            '{"type": "response.create", "response": {"output_modalities": ["text"]}, "event_id": "x"}',
            "invalid_value",
            "response.output_modalities",
        ),
    ],
)
def test_bad_client_events_raise_protocol_errors(message, code, param):
    """Each malformed event raises a ProtocolError with its code, the offending field and the event_id."""
    with pytest.raises(p.ProtocolError) as info:
        p.parse_client_event(message)
    assert (info.value.code, info.value.param) == (code, param)
    if '"event_id": "x"' in message:
        assert info.value.event_id == "x"
    assert info.value.message


def test_session_update_merges_validates_and_warns():
    """session.update changes only the given fields, rejects bad values and warns about ignored ones."""
    base = p.SessionConfig()
    td = {"type": "server_vad", "threshold": 0.7, "idle_timeout_ms": 5}
    config, warnings = base.update(
        {"type": "realtime", "instructions": "hi", "tools": [], "audio": {"input": {"turn_detection": td}}}
    )
    assert config.instructions == "hi" and config.turn_detection.threshold == 0.7
    assert config.turn_detection.silence_duration_ms == base.turn_detection.silence_duration_ms
    assert sorted(w.param for w in warnings) == [
        "session.audio.input.turn_detection.idle_timeout_ms",
        "session.tools",
    ]
    assert base.instructions == "" and base.turn_detection.threshold == 0.5  # the original is untouched
    off, _ = config.update({"audio": {"input": {"turn_detection": None}}})
    assert off.turn_detection is None
    tokens, _ = config.update(
        {"audio": {"output": {"format": {"type": p.TOKENS_FORMAT}}}, "max_output_tokens": 5}
    )
    assert (tokens.output_format, tokens.input_format, tokens.max_output_tokens) == (
        p.TOKENS_FORMAT,
        p.PCM_FORMAT,
        5,
    )
    for bad, param in [
        (
            {"audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000}}}},
            "session.audio.input.format",
        ),
        ({"audio": {"output": {"format": {"type": "audio/pcmu"}}}}, "session.audio.output.format"),
        (
            {"audio": {"input": {"turn_detection": {"silence_duration_ms": "long"}}}},
            "session.audio.input.turn_detection.silence_duration_ms",
        ),
        (
            {"audio": {"input": {"turn_detection": {"create_response": 1}}}},
            "session.audio.input.turn_detection.create_response",
        ),
        ({"max_output_tokens": 0}, "session.max_output_tokens"),
        ({"type": "transcription"}, "session.type"),
    ]:
        with pytest.raises(p.ProtocolError) as info:
            config.update(bad)
        assert info.value.param == param


def test_session_json_has_the_realtime_shape():
    """The session object carries the GA fields a Realtime client reads, plus hark's own."""
    body = p.SessionConfig(max_output_tokens=None).to_json("sess_1", {"protocol_version": 1})
    assert body["type"] == "realtime" and body["id"] == "sess_1" and body["max_output_tokens"] == "inf"
    assert body["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}
    assert body["audio"]["input"]["turn_detection"]["interrupt_response"] is True
    assert body["hark"] == {"protocol_version": 1}


def test_token_frames_round_trip_and_reject_bad_frames():
    """Token frames encode little-endian and decode back; wrong kind, version, shape or codes are errors."""
    codes = np.array([[1, 2, 3], [1023, 0, 7]])
    data = p.encode_token_frame(p.TokenFrame(p.KIND_USER_CODES, codes, 70000))
    assert data[:10] == bytes([1, 1, 2, 0, 3, 0]) + (70000).to_bytes(4, "little")
    assert data[10:12] == (1).to_bytes(2, "little")
    frame = p.decode_token_frame(data, 2, 1024)
    np.testing.assert_array_equal(frame.codes, codes)
    assert frame.frame_index == 70000
    assistant = p.encode_token_frame(p.TokenFrame(p.KIND_ASSISTANT_CODES, codes, 0))
    for bad in [data[:5], data[:1] + b"\x02" + data[2:], assistant, data[:-2], data[:10]]:
        with pytest.raises(p.ProtocolError, match="frame|kind|version"):
            p.decode_token_frame(bad, 2, 1024)
    with pytest.raises(p.ProtocolError, match="codebooks"):
        p.decode_token_frame(data, 4, 1024)
    with pytest.raises(p.ProtocolError, match="lie in"):
        p.decode_token_frame(data, 2, 512)


def test_pcm16_encoding_clips_and_rounds():
    """float -> base64 PCM16 clips to [-1, 1] and decodes to the same integers."""
    encoded = p.encode_pcm16(np.array([0.0, 0.5, -2.0, 1.0], np.float32))
    assert list(np.frombuffer(base64.b64decode(encoded), "<i2")) == [0, 16384, -32767, 32767]


def test_error_and_response_events_have_the_ga_fields():
    """error nests type/code/message/param/event_id; response objects carry status and status_details."""
    error = ev.error_event(p.ProtocolError("invalid_value", "bad", "session.x", "e9"))
    assert error["type"] == "error" and error["event_id"].startswith("event_")
    assert error["error"] == {
        "type": "invalid_request_error",
        "code": "invalid_value",
        "message": "bad",
        "param": "session.x",
        "event_id": "e9",
    }
    done = ev.response_object("resp_1", "cancelled", [], "turn_detected")
    assert done["status_details"] == {"type": "cancelled", "reason": "turn_detected"}
    assert ev.response_object("resp_1", "completed", [])["status_details"] is None


def test_tool_call_becomes_function_call_events():
    """A tool line of the monologue (a timer) becomes a function_call item with its arguments as JSON."""
    sent = []
    responses = Responses(sent.append, frames_per_step=4, frame_rate=75.0)
    resp = responses.create(0, None)
    responses.add_tool_call(resp, {"name": "timer.set", "arguments": {"seconds": 300}})
    responses.finish(resp, "completed")
    kinds = [e["type"] for e in sent]
    E = p.ServerEvents
    assert kinds == [
        E.RESPONSE_CREATED,
        E.OUTPUT_ITEM_ADDED,
        E.ITEM_ADDED,
        E.FUNCTION_CALL_ARGUMENTS_DONE,
        E.OUTPUT_ITEM_DONE,
        E.ITEM_DONE,
        E.RESPONSE_DONE,
        E.HARK_METRICS,
    ]
    args = sent[3]
    assert (args["name"], json.loads(args["arguments"])) == ("timer.set", {"seconds": 300})
    assert args["call_id"] == sent[6]["response"]["output"][0]["call_id"] and args["output_index"] == 0


def test_clients_read_the_servers_token_frames():
    """`read_token_frame` gives any kind and shape back as sent; a wrong version or length is an error."""
    codes = np.array([[5, 6], [7, 1023], [0, 1], [2, 3]])
    data = p.encode_token_frame(p.TokenFrame(p.KIND_ASSISTANT_CODES, codes, 12))
    frame = p.read_token_frame(data)
    assert (frame.kind, frame.frame_index) == (p.KIND_ASSISTANT_CODES, 12)
    np.testing.assert_array_equal(frame.codes, codes)
    for bad in [data[:9], data[:1] + b"\x02" + data[2:], data[:-2], data + b"\x00\x00"]:
        with pytest.raises(p.ProtocolError, match="frame"):
            p.read_token_frame(bad)


def test_server_events_come_from_the_catalog():
    """Every server event type is one of `ServerEvents`; a type outside the catalog is refused."""
    assert ev.server_event(p.ServerEvents.RESPONSE_DONE)["type"] == "response.done"
    assert len(p.SERVER_EVENT_TYPES) == len(
        [name for name in vars(p.ServerEvents) if name.isupper()]
    )  # no two names for one type
    with pytest.raises(ValueError, match="catalog"):
        ev.server_event("response.finished")


def test_pcm16_decodes_to_float_in_range():
    """Base64 PCM16 -> int16 -> float32 in [-1, 1), the inverse of `encode_pcm16` to within two steps."""
    pcm = np.array([0.0, 0.25, -1.0, 0.999], np.float32)
    back = p.pcm16_to_float(p.decode_pcm16(p.encode_pcm16(pcm)))
    assert back.dtype == np.float32 and np.abs(back - pcm).max() <= 2 / 32767
