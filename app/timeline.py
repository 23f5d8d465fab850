"""A realtime session's input timeline: the client input the engine has not consumed yet, and when the engine
may step on inserted silence instead.

Positions are samples on the timeline of everything the engine consumed, in order: client audio and
inserted silence (in token mode a codec frame counts as `frame_size` samples).

Pacing (docs/protocol.md, "Input pacing"): buffered client input is consumed as fast as the engine allows.
When the buffer runs dry the engine waits, except while an answer is expected: then it steps on digital
silence at real-time pace, so a client that sends a whole question at once and then nothing still gets its
answer. An answer is expected while a response is requested or active (the session says so), until the
engine reaches `pad_position` (set after a commit: the transcript tail) or until `answer_until` (set when
the engine may answer on its own). Silence is inserted at once when the client has closed its input (a
commit or `response.create`), otherwise after `STARVED_GRACE_S` without input, so a real-time client's
network jitter does not put gaps into the user's speech.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

import numpy as np

from app import protocol as p
from app.media import InputBuffer

STARVED_GRACE_S = 0.15  # input gap tolerated before silence is inserted while an answer is expected


class InputTimeline:
    """The buffered input, the engine's position on the timeline and the silence-insertion rules.

    Args:
        step_samples: timeline samples per engine step.
        frame_size: samples per codec frame (the timeline unit of token-mode input).
        sample_rate: input sample rate.
        silence_codes: [K] codes of digital silence (token-mode padding).
        max_ahead_s: how far client input may run ahead of real time.
    """

    def __init__(
        self,
        step_samples: int,
        frame_size: int,
        sample_rate: int,
        silence_codes: np.ndarray,
        max_ahead_s: float,
    ):
        self.step_samples, self.frame_size, self.sample_rate = step_samples, frame_size, sample_rate
        self.step_s = step_samples / sample_rate
        self.silence_codes, self.max_ahead_s = silence_codes, max_ahead_s
        self.consumed = 0  # samples the engine has taken
        self.received_s = 0.0  # client input seconds accepted
        self.closed = False  # the client committed / asked for a response since its last input
        self.pad_position = 0  # silence may be inserted until the engine reaches this position ...
        self.answer_until = 0.0  # ... or until this time
        self.wake = asyncio.Event()  # input arrived or silence may be due: `next_chunk` looks again
        self.started_at = time.monotonic()
        self._starved_at: float | None = None
        self._pad_clock = 0.0  # earliest time of the next silence chunk
        self.set_format(tokens=False)

    def set_format(self, tokens: bool) -> None:
        """Switch between PCM samples and codec frames; input not yet consumed is dropped."""
        self.tokens = tokens
        if tokens:
            self.buffer = InputBuffer(self.silence_codes, self.consumed // self.frame_size)
        else:
            self.buffer = InputBuffer(np.zeros((), np.float32), self.consumed)

    @property
    def unit(self) -> int:
        """Buffer units per engine step: samples, or codec frames in token mode."""
        return self.step_samples // self.frame_size if self.tokens else self.step_samples

    @property
    def position(self) -> int:
        """Timeline position just after the last buffered input."""
        return self.consumed + self.buffer.size * (self.frame_size if self.tokens else 1)

    def accept(self, data: np.ndarray, samples: int, event_id: str | None) -> float:
        """Buffer client input (PCM [n] or codes [K, n]) of `samples` timeline samples; returns its seconds.

        Raises:
            ProtocolError: the input would run more than `max_ahead_s` ahead of real time (it is dropped).
        """
        seconds = samples / self.sample_rate
        ahead = self.received_s + seconds - (time.monotonic() - self.started_at)
        if ahead > self.max_ahead_s:
            raise p.ProtocolError(
                "input_rate_exceeded",
                f"input audio is {ahead:.1f} s ahead of real time (limit {self.max_ahead_s:g} s); "
                "this chunk was dropped: send audio at real-time pace",
                "audio",
                event_id,
            )
        self.received_s += seconds
        self.buffer.push(data)
        self.closed = False
        self.wake.set()
        return seconds

    def close_input(self, complete_chunk: bool) -> None:
        """The client's input is over for now (no need to wait for more); with `complete_chunk`, the last
        partial step is completed with silence, so the engine hears all of it."""
        if complete_chunk:
            self.buffer.pad_to(self.unit)
        self.closed = True
        self.wake.set()

    def expect_until(self, position: int) -> None:
        """Silence may be inserted until the engine has consumed `position`."""
        self.pad_position = max(self.pad_position, position)
        self.wake.set()

    def drop_after(self, position: int) -> None:
        """Forget the buffered input after timeline position `position` (consumed input stays)."""
        unheard = self.position - max(position, self.consumed)
        self.buffer.drop_tail(max(0, unheard) * self.unit // self.step_samples)

    async def next_chunk(
        self, answer_expected: Callable[[], bool], before_taking: Callable[[int], Awaitable[None]]
    ) -> tuple[np.ndarray, bool, int]:
        """Wait for the next engine step's input; returns (chunk, padded with silence, its position).

        `before_taking(end)` runs once the chunk is buffered (up to buffer position `end`) and before it is
        taken: the session's server VAD, which must hear all input before the engine does.
        """
        while True:
            unit = self.unit  # a session.update may switch the input format while this waits
            padded = self.buffer.size < unit
            if padded:
                now = time.monotonic()
                self._starved_at = self._starved_at or now
                delay = self._pad_delay(now, answer_expected())
                if delay is None or delay > 0:
                    self.wake.clear()
                    # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation
                    # that arrives as the wait ends, leaving the session task hanging on close.
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(delay):
                            await self.wake.wait()
                    continue
                self._pad_clock = now + self.step_s
                self.buffer.fill(unit)
            await before_taking(self.buffer.head + unit)
            if unit == self.unit and self.buffer.size >= unit:  # else switched or cleared meanwhile
                self._starved_at = self._starved_at if padded else None
                position, self.consumed = self.consumed, self.consumed + self.step_samples
                return self.buffer.pop(unit), padded, position

    def _pad_delay(self, now: float, answer_expected: bool) -> float | None:
        """Seconds until silence may be inserted (<= 0: now), None while no answer is expected."""
        if not (answer_expected or now < self.answer_until or self.consumed < self.pad_position):
            return None
        ready = self._starved_at + (0.0 if self.closed else STARVED_GRACE_S)
        return max(self._pad_clock, ready) - now
