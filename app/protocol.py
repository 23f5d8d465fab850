"""Wire format of `hark serve`: OpenAI Realtime (GA) JSON events plus hark's binary token frames.

Text frames carry one JSON event each, shaped as in the OpenAI Realtime API (docs/protocol.md lists the
events hark sends and accepts). `parse_client_event` turns a text frame into a typed client event or
raises `ProtocolError` (sent back as an `error` event carrying type, code, message, param and the
offending event's event_id); `SessionConfig.update` validates the `session` object of `session.update`.
Server events are built in app/events.py; `ServerEvents` is the catalog of their types, which clients
(ui/, app/bench/) and tests match on. `REALTIME_PATH` is where the service listens.

Binary frames (token fast path, version 1), only after `session.update` selected the token format
(`{"type": "audio/x-hark-tokens"}`) for that direction; all integers little-endian:

    offset  size   field
    0       1      kind: 1 = user codes (client -> server), 2 = assistant codes (server -> client)
    1       1      version: 1
    2       2      uint16 K, codebooks per frame (the session's `hark.codec.num_codebooks`)
    4       2      uint16 n, frames in this message (n >= 1)
    6       4      uint32 frame index of the first frame: kind 1, in the client's input stream since the
                   session began (informational); kind 2, within the current response's audio, so
                   frames / 75 s is the played position to put in `conversation.item.truncate`
    10      2*K*n  uint16 codes in [0, cardinality), codebook-major ([K, n], row-major)

A kind-2 frame belongs to the response announced by the latest `response.output_item.added` (frames and
JSON events share one ordered connection). The server reads frames with `decode_token_frame` (kind 1 of
the session's shape only); clients read them with `read_token_frame`.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np

REALTIME_PATH = "/v1/realtime"
PCM_FORMAT = "audio/pcm"
TOKENS_FORMAT = "audio/x-hark-tokens"
SAMPLE_RATE = 24000
FRAME_VERSION = 1
KIND_USER_CODES = 1
KIND_ASSISTANT_CODES = 2
_HEADER = struct.Struct("<BBHHI")  # kind, version, K, n, frame index


class ServerEvents:
    """The type of every event hark sends (docs/protocol.md says when each is sent).

    The Realtime API's names; hark's own events are prefixed `hark.`.
    """

    ERROR = "error"
    HARK_WARNING = "hark.warning"
    HARK_METRICS = "hark.metrics"
    SESSION_CREATED = "session.created"
    SESSION_UPDATED = "session.updated"
    INPUT_COMMITTED = "input_audio_buffer.committed"
    INPUT_CLEARED = "input_audio_buffer.cleared"
    SPEECH_STARTED = "input_audio_buffer.speech_started"
    SPEECH_STOPPED = "input_audio_buffer.speech_stopped"
    ITEM_CREATED = "conversation.item.created"  # the beta API's name: sent beside ITEM_ADDED
    ITEM_ADDED = "conversation.item.added"
    ITEM_DONE = "conversation.item.done"
    ITEM_TRUNCATED = "conversation.item.truncated"
    TRANSCRIPTION_DELTA = "conversation.item.input_audio_transcription.delta"
    TRANSCRIPTION_COMPLETED = "conversation.item.input_audio_transcription.completed"
    RESPONSE_CREATED = "response.created"
    RESPONSE_DONE = "response.done"
    OUTPUT_ITEM_ADDED = "response.output_item.added"
    OUTPUT_ITEM_DONE = "response.output_item.done"
    CONTENT_PART_ADDED = "response.content_part.added"
    CONTENT_PART_DONE = "response.content_part.done"
    AUDIO_DELTA = "response.output_audio.delta"
    AUDIO_DONE = "response.output_audio.done"
    AUDIO_TRANSCRIPT_DELTA = "response.output_audio_transcript.delta"  # the assistant's inner monologue
    AUDIO_TRANSCRIPT_DONE = "response.output_audio_transcript.done"
    FUNCTION_CALL_ARGUMENTS_DONE = "response.function_call_arguments.done"


SERVER_EVENT_TYPES: frozenset[str] = frozenset(
    value for name, value in vars(ServerEvents).items() if name.isupper()
)

# Fields of the Realtime session that hark knows but does not act on: accepted with a warning.
_IGNORED_SESSION_FIELDS = (
    "model",
    "tools",
    "tool_choice",
    "tracing",
    "truncation",
    "prompt",
    "include",
    "parallel_tool_calls",
    "reasoning",
    "object",
    "id",
    "expires_at",
)


class ProtocolError(Exception):
    """A client mistake, sent back as an `error` event (the session stays open).

    Args:
        code: machine-readable code, e.g. "invalid_json", "unknown_event", "invalid_value".
        message: what was wrong and what to send instead.
        param: dotted path of the offending field, if any.
        event_id: the offending client event's event_id, if it had one.
        type: the error class as in the Realtime API ("invalid_request_error" or "server_error").
    """

    def __init__(
        self,
        code: str,
        message: str,
        param: str | None = None,
        event_id: str | None = None,
        type: str = "invalid_request_error",
    ):
        super().__init__(message)
        self.code, self.message, self.param, self.event_id, self.type = code, message, param, event_id, type


@dataclass
class FieldWarning:
    """A non-fatal remark about a client event (an ignored field), sent as a `hark.warning` event."""

    param: str
    message: str
    code: str = "ignored_field"


# ----- session configuration -----


@dataclass
class TurnDetection:
    """`audio.input.turn_detection` of type server_vad (plus hark's `min_speech_ms`)."""

    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 500
    create_response: bool = True
    interrupt_response: bool = True
    # hark: speech shorter than this neither starts a turn nor interrupts (a response pauses meanwhile);
    # 64 ms = two silero windows. silero itself rejects clicks, taps, coughs and hums (p < 0.15 on each)
    min_speech_ms: int = 64

    def to_json(self) -> dict:
        return {"type": "server_vad", **dataclasses.asdict(self)}


@dataclass
class SessionConfig:
    """What a client may set with `session.update` (see docs/protocol.md for each field's effect)."""

    instructions: str = ""
    turn_detection: TurnDetection | None = field(default_factory=TurnDetection)
    input_format: str = PCM_FORMAT
    output_format: str = PCM_FORMAT
    max_output_tokens: int | None = None  # engine steps (53 ms each) per response; None = "inf"

    def update(self, session: Any) -> tuple[SessionConfig, list[FieldWarning]]:
        """A copy with the `session` object of a `session.update` applied; raises ProtocolError."""
        _expect(session, dict, "session")
        new, warnings = dataclasses.replace(self), []
        for key, value in session.items():
            param = f"session.{key}"
            if key == "type":
                if value != "realtime":
                    raise ProtocolError("invalid_value", "hark serves only session type 'realtime'", param)
            elif key == "instructions":
                new.instructions = _expect(value, str, param)
            elif key == "output_modalities":
                if value != ["audio"]:
                    raise ProtocolError("invalid_value", 'hark answers with audio: use ["audio"]', param)
            elif key == "max_output_tokens":
                new.max_output_tokens = parse_max_output_tokens(value, param)
            elif key == "audio":
                _update_audio(new, _expect(value, dict, param), warnings)
            elif key in _IGNORED_SESSION_FIELDS:
                warnings.append(FieldWarning(param, f"{key} is not supported by hark and was ignored"))
            else:
                warnings.append(FieldWarning(param, f"unknown field {key!r} ignored", "unknown_field"))
        return new, warnings

    def to_json(self, session_id: str, hark_info: dict) -> dict:
        """The Realtime session object (as in session.created / session.updated)."""
        td = self.turn_detection.to_json() if self.turn_detection else None
        return {
            "type": "realtime",
            "object": "realtime.session",
            "id": session_id,
            "model": "hark",
            "output_modalities": ["audio"],
            "instructions": self.instructions,
            "audio": {
                "input": {"format": audio_format_json(self.input_format), "turn_detection": td},
                "output": {"format": audio_format_json(self.output_format), "voice": "hark"},
            },
            "max_output_tokens": "inf" if self.max_output_tokens is None else self.max_output_tokens,
            "hark": hark_info,
        }


def _update_audio(config: SessionConfig, audio: dict, warnings: list[FieldWarning]) -> None:
    for side, body in audio.items():
        if side not in ("input", "output"):
            warnings.append(
                FieldWarning(f"session.audio.{side}", f"unknown field {side!r} ignored", "unknown_field")
            )
            continue
        for key, value in _expect(body, dict, f"session.audio.{side}").items():
            param = f"session.audio.{side}.{key}"
            if key == "format":
                setattr(config, f"{side}_format", _parse_format(value, param))
            elif side == "input" and key == "turn_detection":
                config.turn_detection = _parse_turn_detection(value, config.turn_detection, param, warnings)
            elif side == "input" and key == "transcription":
                pass  # the engine always transcribes the user itself; any transcription model is moot
            elif key in ("noise_reduction", "voice", "speed"):
                if value is not None:
                    warnings.append(FieldWarning(param, f"{key} is not supported by hark and was ignored"))
            else:
                warnings.append(FieldWarning(param, f"unknown field {key!r} ignored", "unknown_field"))


def _parse_format(value: Any, param: str) -> str:
    kind = _expect(value, dict, param).get("type")
    if kind == PCM_FORMAT:
        rate = value.get("rate", SAMPLE_RATE)
        if rate != SAMPLE_RATE:
            raise ProtocolError("invalid_value", f"audio/pcm must be {SAMPLE_RATE} Hz, got {rate!r}", param)
        return PCM_FORMAT
    if kind == TOKENS_FORMAT:
        return TOKENS_FORMAT
    raise ProtocolError(
        "invalid_value", f"unsupported audio format {kind!r}; use {PCM_FORMAT!r} or {TOKENS_FORMAT!r}", param
    )


def audio_format_json(fmt: str) -> dict:
    """The Realtime `format` object of PCM_FORMAT or TOKENS_FORMAT (as clients send it in session.update)."""
    return {"type": PCM_FORMAT, "rate": SAMPLE_RATE} if fmt == PCM_FORMAT else {"type": TOKENS_FORMAT}


def _parse_turn_detection(
    value: Any, current: TurnDetection | None, param: str, warnings: list[FieldWarning]
) -> TurnDetection | None:
    if value is None:
        return None
    _expect(value, dict, param)
    kind = value.get("type", "server_vad")
    if kind == "semantic_vad":
        warnings.append(FieldWarning(f"{param}.type", "semantic_vad is not supported; using server_vad"))
    elif kind != "server_vad":
        raise ProtocolError(
            "invalid_value", "turn_detection.type must be server_vad or null", f"{param}.type"
        )
    td = dataclasses.replace(current) if current else TurnDetection()
    checks = {
        "threshold": (float, 0.0, 1.0),
        "prefix_padding_ms": (int, 0, 10_000),
        "silence_duration_ms": (int, 0, 10_000),
        "min_speech_ms": (int, 0, 10_000),
        "create_response": (bool, None, None),
        "interrupt_response": (bool, None, None),
    }
    for key, v in value.items():
        if key == "type":
            continue
        if key not in checks:
            warnings.append(FieldWarning(f"{param}.{key}", f"{key} is not supported by hark and was ignored"))
            continue
        kind_, low, high = checks[key]
        setattr(td, key, _number(v, kind_, low, high, f"{param}.{key}"))
    return td


def parse_max_output_tokens(value: Any, param: str) -> int | None:
    """`max_output_tokens`: "inf" (None) or a positive number of engine steps."""
    if value == "inf" or value is None:
        return None
    return _number(value, int, 1, 1_000_000, param)


def _number(value: Any, kind: type, low: float | None, high: float | None, param: str):
    ok = (
        isinstance(value, bool)
        if kind is bool
        else isinstance(value, int | float) and not isinstance(value, bool)
    )
    if kind is int and ok and float(value) != int(value):
        ok = False
    if not ok or (low is not None and not low <= value <= high):  # type: ignore[operator]
        bounds = "" if low is None else f" in [{low}, {high}]"
        raise ProtocolError(
            "invalid_value", f"{param} must be a {kind.__name__}{bounds}, got {value!r}", param
        )
    return kind(value)


def _expect(value: Any, kind: type, param: str) -> Any:
    if not isinstance(value, kind):
        raise ProtocolError(
            "invalid_value", f"{param} must be a {kind.__name__}, got {type(value).__name__}", param
        )
    return value


# ----- client events -----


@dataclass
class SessionUpdate:
    """`session.update`: the raw `session` object (validated by `SessionConfig.update`)."""

    event_id: str | None
    session: dict


@dataclass
class AudioAppend:
    """`input_audio_buffer.append`, its base64 audio decoded."""

    event_id: str | None
    pcm: np.ndarray  # int16 [n] mono 24 kHz


@dataclass
class AudioCommit:
    """`input_audio_buffer.commit`."""

    event_id: str | None


@dataclass
class AudioClear:
    """`input_audio_buffer.clear`."""

    event_id: str | None


@dataclass
class ItemCreate:
    """A client-created item: a text message (role user/system/assistant) or a function_call_output."""

    event_id: str | None
    item_type: str  # "message" or "function_call_output"
    text: str  # the message text, or the function output
    role: str = "user"
    call_id: str | None = None
    item_id: str | None = None


@dataclass
class ItemTruncate:
    """`conversation.item.truncate`: cut an assistant item to what the client played."""

    event_id: str | None
    item_id: str
    content_index: int
    audio_end_ms: int


@dataclass
class ResponseCreate:
    """`response.create` with the response fields hark acts on (others become warnings)."""

    event_id: str | None
    instructions: str | None = None
    max_output_tokens: int | None = None
    max_output_tokens_set: bool = False
    warnings: list[FieldWarning] = field(default_factory=list)


@dataclass
class ResponseCancel:
    """`response.cancel` (of the given response, or of whichever is running)."""

    event_id: str | None
    response_id: str | None = None


ClientEvent = (
    SessionUpdate
    | AudioAppend
    | AudioCommit
    | AudioClear
    | ItemCreate
    | ItemTruncate
    | ResponseCreate
    | ResponseCancel
)
_UNSUPPORTED_EVENTS = ("conversation.item.delete", "conversation.item.retrieve", "output_audio_buffer.clear")


def parse_client_event(text: str) -> ClientEvent:
    """Parse one JSON text frame into a typed client event; raises ProtocolError."""
    try:
        obj = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as e:
        raise ProtocolError("invalid_json", f"the message is not valid JSON: {e}") from None
    if not isinstance(obj, dict):
        raise ProtocolError("invalid_event", "an event must be a JSON object with a 'type' field")
    event_id = obj.get("event_id")
    if event_id is not None and not isinstance(event_id, str):
        raise ProtocolError("invalid_value", "event_id must be a string", "event_id")
    try:
        return _parse_fields(obj, event_id)
    except ProtocolError as e:
        e.event_id = event_id
        raise


def _parse_fields(obj: dict, event_id: str | None) -> ClientEvent:
    kind = obj.get("type")
    if not isinstance(kind, str):
        raise ProtocolError("invalid_event", "an event needs a string 'type'", "type")
    if kind == "session.update":
        return SessionUpdate(event_id, _expect(obj.get("session"), dict, "session"))
    if kind == "input_audio_buffer.append":
        return AudioAppend(event_id, decode_pcm16(obj.get("audio")))
    if kind == "input_audio_buffer.commit":
        return AudioCommit(event_id)
    if kind == "input_audio_buffer.clear":
        return AudioClear(event_id)
    if kind == "conversation.item.create":
        return _parse_item(_expect(obj.get("item"), dict, "item"), event_id)
    if kind == "conversation.item.truncate":
        return ItemTruncate(
            event_id,
            _expect(obj.get("item_id"), str, "item_id"),
            _number(obj.get("content_index", 0), int, 0, 0, "content_index"),
            _number(obj.get("audio_end_ms"), int, 0, 10**9, "audio_end_ms"),
        )
    if kind == "response.create":
        return _parse_response_create(obj.get("response") or {}, event_id)
    if kind == "response.cancel":
        rid = obj.get("response_id")
        return ResponseCancel(event_id, None if rid is None else _expect(rid, str, "response_id"))
    if kind in _UNSUPPORTED_EVENTS:
        raise ProtocolError("unsupported_event", f"hark does not support {kind}", "type")
    raise ProtocolError("unknown_event", f"unknown event type {kind!r}", "type")


def decode_pcm16(audio: Any) -> np.ndarray:
    """Base64 PCM16 little-endian mono -> int16 [n]; raises ProtocolError naming `audio`."""
    _expect(audio, str, "audio")
    try:
        raw = base64.b64decode(audio, validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolError("invalid_base64", "audio must be base64-encoded PCM16", "audio") from None
    if len(raw) % 2:
        raise ProtocolError(
            "invalid_audio_length", f"PCM16 audio needs an even number of bytes, got {len(raw)}", "audio"
        )
    return np.frombuffer(raw, dtype="<i2").astype(np.int16)


def pcm16_to_float(pcm: np.ndarray) -> np.ndarray:
    """int16 samples (as `decode_pcm16` gives them) -> float32 in [-1, 1)."""
    return pcm.astype(np.float32) / 32768.0


def encode_pcm16(pcm: np.ndarray) -> str:
    """float32 [-1, 1] samples -> base64 PCM16 little-endian (clipped)."""
    ints = (np.clip(pcm, -1.0, 1.0) * 32767.0).round().astype("<i2")
    return base64.b64encode(ints.tobytes()).decode("ascii")


def _parse_item(item: dict, event_id: str | None) -> ItemCreate:
    kind, item_id = item.get("type", "message"), item.get("id")
    if item_id is not None:
        _expect(item_id, str, "item.id")
    if kind == "function_call_output":
        call_id = _expect(item.get("call_id"), str, "item.call_id")
        output = _expect(item.get("output"), str, "item.output")
        return ItemCreate(event_id, kind, output, "tool", call_id, item_id)
    if kind != "message":
        raise ProtocolError(
            "invalid_value", f"hark accepts message and function_call_output items, not {kind!r}", "item.type"
        )
    role = item.get("role", "user")
    if role not in ("user", "system", "assistant"):
        raise ProtocolError("invalid_value", "item.role must be user, system or assistant", "item.role")
    texts = []
    for i, part in enumerate(_expect(item.get("content", []), list, "item.content")):
        param = f"item.content[{i}]"
        if _expect(part, dict, param).get("type") not in ("input_text", "text", "output_text"):
            raise ProtocolError(
                "invalid_value", "hark accepts text content only (input_text)", f"{param}.type"
            )
        texts.append(_expect(part.get("text"), str, f"{param}.text"))
    return ItemCreate(event_id, kind, "\n".join(texts), role, None, item_id)


def _parse_response_create(response: Any, event_id: str | None) -> ResponseCreate:
    _expect(response, dict, "response")
    out = ResponseCreate(event_id)
    for key, value in response.items():
        if key == "instructions":
            out.instructions = _expect(value, str, "response.instructions")
        elif key == "max_output_tokens":
            out.max_output_tokens = parse_max_output_tokens(value, "response.max_output_tokens")
            out.max_output_tokens_set = True
        elif key == "output_modalities" and value != ["audio"]:
            raise ProtocolError(
                "invalid_value", 'hark answers with audio: use ["audio"]', "response.output_modalities"
            )
        elif key not in ("output_modalities", "conversation", "metadata"):
            out.warnings.append(
                FieldWarning(f"response.{key}", f"{key} is not supported by hark and was ignored")
            )
    return out


# ----- binary token frames -----


@dataclass
class TokenFrame:
    """One binary token message: codes [K, n] plus the index of its first frame."""

    kind: int
    codes: np.ndarray  # int64 [K, n]
    frame_index: int


def encode_token_frame(frame: TokenFrame) -> bytes:
    """TokenFrame -> binary message (layout in the module docstring)."""
    K, n = frame.codes.shape
    header = _HEADER.pack(frame.kind, FRAME_VERSION, K, n, frame.frame_index & 0xFFFFFFFF)
    return header + np.ascontiguousarray(frame.codes, dtype="<u2").tobytes()


def read_token_frame(data: bytes) -> TokenFrame:
    """Binary message -> TokenFrame as a client reads the server's frames (any kind, any shape): checks
    the version and that the length matches the header; raises ProtocolError."""
    kind, K, n, index = _read_header(data)
    if len(data) != _HEADER.size + 2 * K * n:
        raise ProtocolError(
            "invalid_frame", f"a frame of K={K}, n={n} has {_HEADER.size}+2*K*n bytes, got {len(data)}"
        )
    return TokenFrame(kind, _read_codes(data, K, n), index)


def decode_token_frame(data: bytes, num_codebooks: int, cardinality: int) -> TokenFrame:
    """Binary message -> TokenFrame as the server reads a client's frames: checks version, kind (user
    codes), shape and code range; raises ProtocolError."""
    kind, K, n, index = _read_header(data)
    if kind != KIND_USER_CODES:
        raise ProtocolError("invalid_frame", f"clients send kind {KIND_USER_CODES} (user codes), got {kind}")
    if num_codebooks != K or n == 0 or len(data) != _HEADER.size + 2 * K * n:
        raise ProtocolError(
            "invalid_frame",
            f"expected K={num_codebooks} codebooks, n>=1 frames and {_HEADER.size}+2*K*n bytes; "
            f"got K={K}, n={n}, {len(data)} bytes",
        )
    codes = _read_codes(data, K, n)
    if codes.max() >= cardinality:
        raise ProtocolError("invalid_frame", f"codes must lie in [0, {cardinality})")
    return TokenFrame(kind, codes, index)


def _read_header(data: bytes) -> tuple[int, int, int, int]:
    """(kind, K, n, first frame index) of a frame whose header is whole and of FRAME_VERSION."""
    if len(data) < _HEADER.size:
        raise ProtocolError("invalid_frame", f"a token frame needs a {_HEADER.size}-byte header")
    kind, version, K, n, index = _HEADER.unpack_from(data)
    if version != FRAME_VERSION:
        raise ProtocolError(
            "invalid_frame", f"token frame version {version} unsupported; use {FRAME_VERSION}"
        )
    return kind, K, n, index


def _read_codes(data: bytes, K: int, n: int) -> np.ndarray:
    """The codes after the header, int64 [K, n] (the length already checked)."""
    return np.frombuffer(data, dtype="<u2", offset=_HEADER.size).reshape(K, n).astype(np.int64)
