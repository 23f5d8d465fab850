"""The controls a session can be given between steps, one frozen dataclass each.

`EngineSession`'s control methods queue these values from any thread; `Engine.step` applies the queue,
in order, at the start of the session's next step (`Engine._apply`, the one dispatch over them). What
each control means is written at the top of engine/session.py.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Silence:
    """Barge-in: end the current turn and mute the assistant until the user's next turn has ended."""


@dataclass(frozen=True)
class UserTurnEnded:
    """Someone else (the service's VAD) saw the user's turn end: lift a mute."""


@dataclass(frozen=True)
class StartTurn:
    """Lift a mute and make the next monologue token a word, unless a turn is in progress."""


@dataclass(frozen=True)
class Truncate:
    """Silence the assistant's audio from `frame` codec frames after the start of chunk `chunk` on.

    Attributes:
        chunk: a `StepOutput.chunk`; None counts from the current/last turn's first chunk.
        frame: codec frames after the start of that chunk (>= 0).
    """

    chunk: int | None
    frame: int


@dataclass(frozen=True)
class InjectContext:
    """Write text context tokens into the session's context slots.

    Attributes:
        tokens: the encoded context line(s).
        initial: the session's own context (written first, at its first step) rather than an injection.
        key: an injection replaces the earlier one with the same key (None: always added).
    """

    tokens: tuple[int, ...]
    initial: bool = False
    key: str | None = None


@dataclass(frozen=True)
class Reset:
    """Start over: empty conversation and cache (the original context is queued after it)."""


Control = Silence | UserTurnEnded | StartTurn | Truncate | InjectContext | Reset
