"""The conversation as the screen shows it: turns of user transcript and assistant monologue, and states.

The client fills it from realtime events; the widgets render it. An assistant turn keeps each monologue piece
with the position in its audio (samples into the item) where the piece was received, so the screen can show
words only once playback has reached them and, after an interruption, mark the words the user never heard.
"""

from __future__ import annotations

from dataclasses import dataclass, field

LISTENING = "listening"
USER_SPEAKING = "user speaking"
THINKING = "thinking"
SPEAKING = "speaking"
INTERRUPTED = "interrupted"
STATES = (LISTENING, USER_SPEAKING, THINKING, SPEAKING, INTERRUPTED)


@dataclass
class Piece:
    """A monologue piece and the audio position (samples into its item) where it was received."""

    offset: int
    text: str


@dataclass
class Turn:
    """One item of the conversation.

    Attributes:
        role: "user", "assistant" or "note" (a line from the client itself, e.g. a reconnect).
        item_id: the realtime item id ("" for notes).
        text: the user transcript so far, or the note.
        pieces: the assistant's monologue pieces.
        final: the transcript is complete / the response is done.
        cut: samples of the assistant's audio the user heard before interrupting it (None: not cut).
        latency_ms: end of the user's speech -> first assistant audio heard, for the answer that opened it.
        version: bumped on every change, so a view re-renders only turns that changed.
    """

    role: str
    item_id: str = ""
    text: str = ""
    pieces: list[Piece] = field(default_factory=list)
    final: bool = False
    cut: int | None = None
    latency_ms: float | None = None
    version: int = 0

    def touch(self) -> None:
        """Mark the turn changed."""
        self.version += 1

    def split(self, heard: int) -> tuple[str, str, str]:
        """The monologue as (heard, cut off and never heard, queued and not heard yet) for `heard` samples."""
        limit = heard if self.cut is None else min(heard, self.cut)
        spoken = "".join(p.text for p in self.pieces if p.offset <= limit)
        rest = "".join(p.text for p in self.pieces if p.offset > limit)
        return (spoken, rest, "") if self.cut is not None else (spoken, "", rest)


@dataclass
class Conversation:
    """Every turn so far, oldest first, plus the per-turn latencies."""

    turns: list[Turn] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)

    def find(self, item_id: str) -> Turn | None:
        """The turn of a realtime item (most recent first)."""
        return next((t for t in reversed(self.turns) if t.item_id == item_id), None)

    def add(self, turn: Turn) -> Turn:
        """Append a turn; returns it."""
        self.turns.append(turn)
        return turn

    def user_turn(self, item_id: str) -> Turn:
        """The user turn of `item_id`, created when first seen."""
        return self.find(item_id) or self.add(Turn("user", item_id))

    def note(self, text: str) -> None:
        """A line from the client itself (reconnected, input ended, ...)."""
        self.add(Turn("note", text=text, final=True))

    def clear(self) -> None:
        """Forget the turns (a reset); the latency history stays."""
        self.turns.clear()
