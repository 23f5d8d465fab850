"""Assistant responses of one realtime session: lifecycle, the events that describe them, and metrics.

A response is `requested` (by `response.create`) or starts `active` (the engine began a turn on its own);
it is active from the step the engine speaks until the engine ends its turn, falls quiet, reaches the
step limit, or is cancelled. While active, each engine step adds one audio chunk (an output_audio delta,
or a binary token frame in token mode) and its monologue piece (an output_audio_transcript delta).
`Responses` emits every event of that life in the Realtime API's order and keeps recent assistant items
so that `conversation.item.truncate` can map "played milliseconds" back to codec frames.

While the user may be starting to talk over a response (server VAD hears speech that has not lasted
`min_speech_ms` yet), the response is held: its audio and transcript deltas are kept back, so the client
falls silent at once. If the speech is confirmed the response is cancelled and the held part was never
sent; if it was a blip, the held deltas go out and the response carries on.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from app import events as ev
from app import protocol as p

KEEP_ITEMS = 64  # assistant items remembered for truncation


@dataclass
class Response:
    """One response's state; times are `time.monotonic()` seconds."""

    id: str
    created_at: float
    request_position: int  # input sample the engine must have consumed before the response may start
    max_steps: int | None  # engine steps of audio before the response ends as incomplete
    state: str = "requested"  # requested | active | done
    item_id: str | None = None  # the assistant audio message, once active
    output: list[dict] = field(default_factory=list)  # output items, in output_index order
    first_chunk: int | None = None  # engine chunk (StepOutput.chunk) of the response's first audio chunk
    frames_sent: int = 0  # codec frames of audio sent (after a truncate: played)
    held: list[dict | bytes] | None = None  # deltas kept back while held (None: not held)
    held_frames: int = 0  # codec frames in `held`
    held_pieces: int = 0  # the last `held_pieces` of `pieces` are in `held`
    pieces: list[tuple[int, str]] = field(default_factory=list)  # (frame offset of the audio, text)
    quiet_steps: int = 0
    first_audio_at: float | None = None
    input_end_at: float | None = None  # when the input this response answers was consumed
    speech_end_at: float | None = None  # when the last voiced input chunk was consumed (server VAD)
    barge_in_ms: float | None = None  # input audio from the user's speech onset to the cancel (barge-in)
    stages: dict[str, list[float]] = field(default_factory=dict)  # per-step milliseconds by stage

    @property
    def transcript(self) -> str:
        return "".join(text for _, text in self.pieces)

    def add_stage(self, name: str, ms: float) -> None:
        self.stages.setdefault(name, []).append(ms)


class Responses:
    """Creates, feeds and finishes a session's responses, emitting their events.

    Args:
        emit: queues one server message (dict for JSON, bytes for a binary frame).
        frames_per_step: codec frames per engine step (G).
        frame_rate: codec frames per second.
    """

    def __init__(self, emit: Callable[[dict | bytes], None], frames_per_step: int, frame_rate: float):
        self._emit = emit
        self._G = frames_per_step
        self._frame_rate = frame_rate
        self.current: Response | None = None
        self.created = 0  # responses created so far
        self._items: OrderedDict[str, Response] = OrderedDict()
        self.counts = {"completed": 0, "cancelled": 0, "incomplete": 0}

    # ----- lifecycle -----
    def create(self, position: int, max_steps: int | None) -> Response:
        """A new response (the previous one must be done); emits response.created."""
        resp = Response(ev.new_id("resp"), time.monotonic(), position, max_steps)
        self.current = resp
        self.created += 1
        self._emit(
            ev.server_event(
                p.ServerEvents.RESPONSE_CREATED, response=ev.response_object(resp.id, "in_progress", [])
            )
        )
        return resp

    def activate(self, resp: Response, chunk: int) -> None:
        """The engine speaks: open the assistant audio item whose first chunk is engine chunk `chunk`."""
        resp.state, resp.first_chunk, resp.item_id = "active", chunk, ev.new_id("item")
        item = ev.message_item(resp.item_id, "assistant", [], "in_progress")
        resp.output.append(item)
        self._emit(ev.server_event(p.ServerEvents.OUTPUT_ITEM_ADDED, **self._where(resp, item), item=item))
        self._emit(ev.server_event(p.ServerEvents.ITEM_ADDED, item=item, previous_item_id=None))
        part = {"type": "audio", "transcript": ""}
        self._emit(ev.server_event(p.ServerEvents.CONTENT_PART_ADDED, **self._at(resp), part=part))
        self._items[resp.item_id] = resp
        while len(self._items) > KEEP_ITEMS:
            self._items.popitem(last=False)

    def add_audio(self, resp: Response, payload: str | np.ndarray) -> None:
        """One chunk of audio: base64 PCM16 (a delta event) or codes [K, G] (a binary token frame)."""
        if isinstance(payload, str):
            message = ev.server_event(p.ServerEvents.AUDIO_DELTA, **self._at(resp), delta=payload)
        else:
            first = resp.frames_sent + resp.held_frames
            message = p.encode_token_frame(p.TokenFrame(p.KIND_ASSISTANT_CODES, payload, first))
        if resp.held is None:
            self._send_audio(resp, [message], self._G)
        else:
            resp.held.append(message)
            resp.held_frames += self._G

    def add_text(self, resp: Response, piece: str, chunk: int) -> None:
        """A monologue piece whose audio starts at engine chunk `chunk`."""
        resp.pieces.append((max(0, (chunk - (resp.first_chunk or 0)) * self._G), piece))
        message = ev.server_event(p.ServerEvents.AUDIO_TRANSCRIPT_DELTA, **self._at(resp), delta=piece)
        if resp.held is None:
            self._emit(message)
        else:
            resp.held.append(message)
            resp.held_pieces += 1

    def hold(self, resp: Response) -> None:
        """Keep the response's deltas back from now on (the user may be starting to talk)."""
        if resp.held is None:
            resp.held = []

    def release(self, resp: Response) -> None:
        """Send what was held and stop holding (it was a blip)."""
        if resp.held is not None:
            held, resp.held = resp.held, None
            self._send_audio(resp, held, resp.held_frames)
            resp.held_frames = resp.held_pieces = 0

    def _send_audio(self, resp: Response, messages: list[dict | bytes], frames: int) -> None:
        if resp.first_audio_at is None and frames:
            resp.first_audio_at = time.monotonic()
        for message in messages:
            self._emit(message)
        resp.frames_sent += frames

    def add_tool_call(self, resp: Response, call: dict) -> None:
        """A completed tool line (e.g. a timer): a function_call item with its arguments."""
        item_id, call_id = ev.new_id("item"), ev.new_id("call")
        args = json.dumps(call.get("arguments", {}))
        item = ev.function_call_item(item_id, call_id, str(call.get("name", "")), args)
        resp.output.append(item)
        where = self._where(resp, item)
        self._emit(
            ev.server_event(p.ServerEvents.OUTPUT_ITEM_ADDED, **where, item={**item, "status": "in_progress"})
        )
        self._emit(ev.server_event(p.ServerEvents.ITEM_ADDED, item=item, previous_item_id=None))
        self._emit(
            ev.server_event(
                p.ServerEvents.FUNCTION_CALL_ARGUMENTS_DONE,
                response_id=resp.id,
                item_id=item_id,
                output_index=where["output_index"],
                call_id=call_id,
                name=item["name"],
                arguments=args,
            )
        )
        self._emit(ev.server_event(p.ServerEvents.OUTPUT_ITEM_DONE, **where, item=item))
        self._emit(ev.server_event(p.ServerEvents.ITEM_DONE, item=item))

    def finish(self, resp: Response, status: str, reason: str | None = None) -> None:
        """End the response: close its audio item and emit response.done, then hark.metrics."""
        resp.state = "done"
        if self.current is resp:
            self.current = None
        if resp.held is not None and status == "cancelled":  # never sent: not part of the response
            del resp.pieces[len(resp.pieces) - resp.held_pieces :]
            resp.held, resp.held_frames, resp.held_pieces = None, 0, 0
        self.release(resp)
        self.counts[status if status in self.counts else "incomplete"] += 1
        if resp.item_id is not None:
            self._close_audio_item(resp, "completed" if status == "completed" else "incomplete")
        body = ev.response_object(resp.id, status, resp.output, reason)
        self._emit(ev.server_event(p.ServerEvents.RESPONSE_DONE, response=body))
        self._emit(
            ev.server_event(
                p.ServerEvents.HARK_METRICS, response_id=resp.id, **metrics(resp, self._G, self._frame_rate)
            )
        )

    def _close_audio_item(self, resp: Response, status: str) -> None:
        transcript = resp.transcript
        at = self._at(resp)
        self._emit(ev.server_event(p.ServerEvents.AUDIO_DONE, **at))
        self._emit(ev.server_event(p.ServerEvents.AUDIO_TRANSCRIPT_DONE, **at, transcript=transcript))
        part = {"type": "audio", "transcript": transcript}
        self._emit(ev.server_event(p.ServerEvents.CONTENT_PART_DONE, **at, part=part))
        item = ev.message_item(
            resp.item_id, "assistant", [{"type": "output_audio", "transcript": transcript}], status
        )
        index = next(i for i, it in enumerate(resp.output) if it["id"] == resp.item_id)
        resp.output[index] = item
        self._emit(
            ev.server_event(
                p.ServerEvents.OUTPUT_ITEM_DONE, response_id=resp.id, output_index=index, item=item
            )
        )
        self._emit(ev.server_event(p.ServerEvents.ITEM_DONE, item=item))

    # ----- truncation -----
    def truncate(self, item_id: str, audio_end_ms: int) -> Response:
        """Cut an assistant item's transcript to the audio played; emits conversation.item.truncated.

        Raises:
            ProtocolError: unknown item, or audio_end_ms beyond the audio sent for it.
        """
        resp = self._items.get(item_id)
        if resp is None:
            raise p.ProtocolError(
                "item_not_found", f"no assistant audio item {item_id!r} to truncate", "item_id"
            )
        sent_ms = 1000 * resp.frames_sent / self._frame_rate
        if audio_end_ms > sent_ms + 0.5:
            raise p.ProtocolError(
                "invalid_value",
                f"audio_end_ms {audio_end_ms} is past the {sent_ms:.0f} ms of audio sent for this item",
                "audio_end_ms",
            )
        frames = int(audio_end_ms * self._frame_rate / 1000)
        resp.pieces = [(offset, text) for offset, text in resp.pieces if offset < frames]
        resp.frames_sent = min(resp.frames_sent, frames)
        self._emit(
            ev.server_event(
                p.ServerEvents.ITEM_TRUNCATED, item_id=item_id, content_index=0, audio_end_ms=audio_end_ms
            )
        )
        return resp

    def is_latest(self, resp: Response) -> bool:
        """Whether `resp` holds the most recent assistant audio item."""
        return bool(self._items) and next(reversed(self._items)) == resp.item_id

    # ----- event addressing -----
    def _where(self, resp: Response, item: dict) -> dict:
        return {"response_id": resp.id, "output_index": resp.output.index(item)}

    def _at(self, resp: Response) -> dict:
        index = next(i for i, it in enumerate(resp.output) if it["id"] == resp.item_id)
        return {"response_id": resp.id, "item_id": resp.item_id, "output_index": index, "content_index": 0}


def metrics(resp: Response, frames_per_step: int, frame_rate: float) -> dict:
    """The hark.metrics body of a finished response: latencies and per-stage step timings (ms)."""

    def since(start: float | None) -> float | None:
        if start is None or resp.first_audio_at is None:
            return None
        return round(1000 * (resp.first_audio_at - start), 1)

    stages = {
        name: {
            "p50": round(float(np.percentile(v, 50)), 2),
            "p95": round(float(np.percentile(v, 95)), 2),
            "max": round(float(np.max(v)), 2),
        }
        for name, v in resp.stages.items()
        if v
    }
    return {
        "steps": len(resp.stages.get("engine", [])),
        "audio_ms": round(1000 * resp.frames_sent / frame_rate, 1),
        "latency_ms": {
            "request_to_first_audio": since(resp.created_at),
            "input_end_to_first_audio": since(resp.input_end_at),
            "speech_end_to_first_audio": since(resp.speech_end_at),
            "speech_onset_to_cancel": None if resp.barge_in_ms is None else round(resp.barge_in_ms, 1),
        },
        "stages_ms": stages,
        "step_budget_ms": round(1000 * frames_per_step / frame_rate, 2),
    }
