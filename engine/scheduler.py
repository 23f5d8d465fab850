"""Continuous batching for the service: one worker thread steps the sessions' waiting chunks together.

Each worker iteration takes at most one pending step per session (oldest first, up to `max_batch`) and
runs them as one `Engine.step`, so no session can delay another by more than one step; sessions join and
leave between iterations. Results go back to the asyncio loop with `call_soon_threadsafe`, so awaiting a
step never blocks the loop.

Real-time clients send their chunks at unrelated phases of the step period, so stepping whatever is
pending at once runs most steps alone. `window_s` > 0 gathers instead: the worker waits until every
active session (one that stepped within the last two periods) has a chunk pending, or until the oldest
pending chunk has waited `window_s`; a lone session never waits, and a session that goes quiet delays the
others by one window at most. Gathering saves CPU but makes every step wait longer, and PCM sessions,
whose encode -> step -> decode runs chunk after chunk, fall behind sooner with it (measurements in
docs/engine.md, "The scheduler"). Hence the default 0: under load, batches form by themselves, since the
chunks that arrive while one step runs go together in the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass

import numpy as np

from engine.engine import Engine
from engine.sampling import SamplingConfig
from engine.session import EngineSession, StepOutput

log = logging.getLogger(__name__)


@dataclass
class _Request:
    handle: SessionHandle
    codes: np.ndarray  # [K, G]
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop
    queued_at: float = 0.0  # time.monotonic() at submit


class SessionHandle:
    """A session registered with a Scheduler; `await handle.step(codes)` joins the next batch."""

    def __init__(self, scheduler: Scheduler, session: EngineSession):
        self.scheduler = scheduler
        self.session = session
        self.closed = False

    async def step(self, user_codes: np.ndarray) -> StepOutput:
        """Queue one chunk of user codes [K, G]; resolves with this session's StepOutput."""
        if self.closed:
            raise RuntimeError("session handle is closed")
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.scheduler._submit(_Request(self, np.asarray(user_codes), future, loop))
        return await future

    def close(self) -> None:
        """Leave the scheduler; pending steps are cancelled and the cache is released between batches."""
        if not self.closed:
            self.closed = True
            self.scheduler._close(self)


class Scheduler:
    """Runs `engine.step` for all sessions in one worker thread.

    Args:
        engine: the shared Engine.
        max_batch: most sessions stepped together (more wait for the next iteration, oldest first).
        window_s: longest a pending chunk waits for the other active sessions' chunks (0: step whatever is
            pending at once).
    """

    def __init__(self, engine: Engine, max_batch: int = 16, window_s: float = 0.0):
        self.engine = engine
        self.max_batch = max_batch
        self.window_s = window_s
        self._cv = threading.Condition()
        self._pending: deque[_Request] = deque()
        self._last_submit: dict[SessionHandle, float] = {}  # open handles -> their latest submit time
        self._closing: list[SessionHandle] = []
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.batch_sizes: deque[int] = deque(maxlen=1000)  # recent batch sizes, for monitoring

    async def __aenter__(self) -> Scheduler:
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="engine-scheduler", daemon=True)
        self._thread.start()
        return self

    async def __aexit__(self, *exc) -> None:
        with self._cv:
            self._stopping = True
            self._cv.notify()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)
            self._thread = None
        self._release_closed()
        for request in self._pending:
            request.loop.call_soon_threadsafe(_cancel, request.future)
        self._pending.clear()

    def open(self, context: str = "", sampling: SamplingConfig | None = None) -> SessionHandle:
        """Register a new session; never blocks the caller (its cache row is taken and its context encoded
        by the worker, at its first step)."""
        return SessionHandle(self, self.engine.new_session(context, sampling))

    def _submit(self, request: _Request) -> None:
        with self._cv:
            request.queued_at = self._last_submit[request.handle] = time.monotonic()
            self._pending.append(request)
            self._cv.notify()

    def _close(self, handle: SessionHandle) -> None:
        with self._cv:
            dropped = [r for r in self._pending if r.handle is handle]
            self._pending = deque(r for r in self._pending if r.handle is not handle)
            self._last_submit.pop(handle, None)
            self._closing.append(handle)
            self._cv.notify()
        for request in dropped:
            request.loop.call_soon_threadsafe(_cancel, request.future)
        if self._thread is None:
            self._release_closed()

    def _release_closed(self) -> None:
        with self._cv:
            closing, self._closing = self._closing, []
        for handle in closing:
            handle.session.close()

    def _next_batch(self) -> list[_Request] | None:
        """Wait for work and gather (module docstring); take the oldest pending step of each session (None
        when stopping)."""
        with self._cv:
            while not self._stopping:
                if self._closing and not self._pending:
                    break
                if not self._pending:
                    self._cv.wait()
                    continue
                wait = self._pending[0].queued_at + self.window_s - time.monotonic()
                if wait <= 0 or self._all_active_pending():
                    break
                self._cv.wait(wait)
            if self._stopping:
                return None
            batch: list[_Request] = []
            rest: deque[_Request] = deque()
            for request in self._pending:
                taken = len(batch) < self.max_batch and all(r.handle is not request.handle for r in batch)
                (batch if taken else rest).append(request)
            self._pending = rest
            return batch

    def _all_active_pending(self) -> bool:
        """Whether every session that stepped within the last two periods has a chunk pending (lock held)."""
        recent = time.monotonic() - 2 * self.engine.step_seconds
        pending = {r.handle for r in self._pending}
        return all(h in pending for h, at in self._last_submit.items() if at >= recent)

    def _run(self) -> None:
        while (batch := self._next_batch()) is not None:
            self._release_closed()
            if batch:
                self._step(batch)

    def _step(self, batch: list[_Request]) -> None:
        self.batch_sizes.append(len(batch))
        try:
            outputs = self.engine.step([r.handle.session for r in batch], np.stack([r.codes for r in batch]))
        except Exception as e:  # reported to every waiting caller; the worker keeps serving
            log.exception("engine step failed")
            for r in batch:
                _deliver(r, exception=e)
            return
        for r, out in zip(batch, outputs, strict=True):
            _deliver(r, result=out)


def _deliver(request: _Request, result: StepOutput | None = None, exception: Exception | None = None) -> None:
    with contextlib.suppress(RuntimeError):  # RuntimeError: the caller's loop is closed, nobody waits
        request.loop.call_soon_threadsafe(_resolve, request.future, result, exception)


def _resolve(future: asyncio.Future, result, exception) -> None:
    if future.done():
        return
    if exception is not None:
        future.set_exception(exception)
    else:
        future.set_result(result)


def _cancel(future: asyncio.Future) -> None:
    if not future.done():
        future.cancel()
