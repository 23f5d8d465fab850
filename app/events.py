"""Builders of hark's server events: Realtime (GA) event envelopes, items and response objects.

Field names follow the OpenAI Realtime API so that its clients parse them unchanged; hark's own events
are prefixed `hark.` (`hark.metrics`, `hark.warning`).
"""

from __future__ import annotations

import uuid
from typing import Any

from app import protocol as p
from app.protocol import FieldWarning, ProtocolError


def new_id(prefix: str) -> str:
    """A fresh id like `item_3f9a...` (prefixes as in the Realtime API: event, item, resp, call, sess)."""
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


def server_event(type: str, **fields: Any) -> dict:
    """A server event with its own event_id; `type` must be in the catalog (`protocol.ServerEvents`)."""
    if type not in p.SERVER_EVENT_TYPES:
        raise ValueError(f"{type!r} is not in the catalog of server events (app/protocol.py)")
    return {"type": type, "event_id": new_id("event"), **fields}


def error_event(error: ProtocolError) -> dict:
    """The `error` event for a ProtocolError."""
    body = {"type": error.type, "code": error.code, "message": error.message, "param": error.param}
    return server_event(p.ServerEvents.ERROR, error={**body, "event_id": error.event_id})


def warning_event(warning: FieldWarning, event_id: str | None) -> dict:
    """hark's `hark.warning` event: the client event was applied, but part of it was ignored."""
    body = {"code": warning.code, "message": warning.message, "param": warning.param, "event_id": event_id}
    return server_event(p.ServerEvents.HARK_WARNING, warning=body)


def message_item(item_id: str, role: str, content: list[dict], status: str = "completed") -> dict:
    """A conversation item of type message."""
    return {
        "id": item_id,
        "object": "realtime.item",
        "type": "message",
        "status": status,
        "role": role,
        "content": content,
    }


def function_call_item(
    item_id: str, call_id: str, name: str, arguments: str, status: str = "completed"
) -> dict:
    """A conversation item of type function_call (the engine's tool lines, e.g. timers)."""
    return {
        "id": item_id,
        "object": "realtime.item",
        "type": "function_call",
        "status": status,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
    }


def function_output_item(item_id: str, call_id: str, output: str) -> dict:
    """A conversation item of type function_call_output (created by the client)."""
    return {
        "id": item_id,
        "object": "realtime.item",
        "type": "function_call_output",
        "status": "completed",
        "call_id": call_id,
        "output": output,
    }


def response_object(
    response_id: str, status: str, output: list[dict], reason: str | None = None, **extra
) -> dict:
    """The Realtime response resource (response.created / response.done)."""
    details = None if status in ("in_progress", "completed") else {"type": status, "reason": reason}
    return {
        "id": response_id,
        "object": "realtime.response",
        "status": status,
        "status_details": details,
        "output": output,
        "output_modalities": ["audio"],
        **extra,
    }
