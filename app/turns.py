"""The user's side of a realtime session: the input buffer's turns (user audio items) and their transcripts.

Positions are samples on the session's input timeline: every chunk the engine consumed (client audio and
silence padding) in order. A turn is the audio between two commits; its item id is chosen when its first
audio arrives, so `speech_started` can name it. The engine transcribes as it listens (a word's tokens come
when its audio ends), so each transcript piece goes to the turn whose audio the engine heard last, and a
committed turn's transcript is completed once the engine is `TAIL_STEPS` steps past its end.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from app import events as ev
from app import protocol as p

TAIL_STEPS = 8  # steps (427 ms) after a turn's end during which late transcript pieces still belong to it


@dataclass
class UserTurn:
    """One user audio item."""

    item_id: str
    start: int  # input position of its first sample
    end: int | None = None  # input position after its last sample, once committed
    pieces: list[str] = field(default_factory=list)


class UserTurns:
    """Turn bookkeeping and the user-item / transcription events.

    Args:
        emit: queues one server event.
        step_samples: input samples per engine step.
        sample_rate: input sample rate (for the transcription usage in seconds).
    """

    def __init__(self, emit: Callable[[dict], None], step_samples: int, sample_rate: int):
        self._emit = emit
        self._step = step_samples
        self._rate = sample_rate
        self.open: UserTurn | None = None
        self._committed: list[UserTurn] = []  # committed, transcript not yet completed
        self.last_item_id: str | None = None

    def ensure_open(self, position: int) -> UserTurn:
        """The turn that new audio at `position` belongs to (a new one after a commit or clear)."""
        if self.open is None:
            self.open = UserTurn(ev.new_id("item"), position)
        return self.open

    def commit(self, end: int) -> UserTurn:
        """Close the open turn at `end`: committed event and the user item (transcript comes later)."""
        turn = self.ensure_open(end)
        turn.end, self.open = end, None
        self._committed.append(turn)
        previous, self.last_item_id = self.last_item_id, turn.item_id
        self._emit(
            ev.server_event(p.ServerEvents.INPUT_COMMITTED, item_id=turn.item_id, previous_item_id=previous)
        )
        item = ev.message_item(turn.item_id, "user", [{"type": "input_audio", "transcript": None}])
        for kind in (p.ServerEvents.ITEM_CREATED, p.ServerEvents.ITEM_ADDED):
            self._emit(ev.server_event(kind, item=item, previous_item_id=previous))
        self._emit(ev.server_event(p.ServerEvents.ITEM_DONE, item=item))
        return turn

    def clear(self) -> UserTurn | None:
        """Drop the open turn (its audio is discarded by the caller); returns it."""
        turn, self.open = self.open, None
        return turn

    def transcribe(self, piece: str, position: int) -> None:
        """A transcript piece the engine produced while hearing the chunk that starts at `position`."""
        if not piece:
            return
        candidates = [t for t in [*self._committed, self.open] if t is not None and t.start <= position]
        if not candidates:
            return  # nothing the user said is pending: the piece has no item to belong to
        turn = candidates[-1]
        turn.pieces.append(piece)
        self._emit(
            ev.server_event(
                p.ServerEvents.TRANSCRIPTION_DELTA,
                item_id=turn.item_id,
                content_index=0,
                delta=piece,
            )
        )

    def advance(self, position: int) -> None:
        """The engine has consumed input up to `position`: complete the transcripts that are final."""
        while self._committed and position >= self._committed[0].end + TAIL_STEPS * self._step:
            turn = self._committed.pop(0)
            seconds = (turn.end - turn.start) / self._rate
            self._emit(
                ev.server_event(
                    p.ServerEvents.TRANSCRIPTION_COMPLETED,
                    item_id=turn.item_id,
                    content_index=0,
                    transcript="".join(turn.pieces).strip(),
                    usage={"type": "duration", "seconds": round(seconds, 3)},
                )
            )
