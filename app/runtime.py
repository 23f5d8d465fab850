"""What hark sessions run on, built in one place for every command that runs them.

`hark serve`, the embedded `hark talk`, `hark respond` and the benchmarks' token-mode clients all get
their models here: `ModelChoice` (the flags) -> `load_models` -> (Engine, Codec), with model specs in the
syntax of app/model_spec.py. `shared_runtime` then starts what all sessions of one process share (the
engine scheduler thread, silero VAD, the codec/VAD worker threads) and hands out the `SessionRuntime`
that `app.session.RealtimeSession` takes, whether a websocket (app/server.py) or the talk client
(ui/transport.py) drives the session. `HarkError` is the error every command prints as one line.

Only the standard library is imported at module level: `hark --help` imports this module for
`HarkError`, and must not pay for torch.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from engine.model_spec import CODEC_SPEC_HELP, DEFAULT, ENGINE_SPEC_HELP, codec_from_spec, engine_from_spec

if TYPE_CHECKING:
    from app.session import SessionRuntime
    from audio.codec import Codec
    from engine.engine import Engine, SamplingConfig

# Untrained codecs by preset (CodecConfig fields). `tiny` is small so that it runs far faster than real
# time (what `--codec random` has always meant to serve, talk and the benchmarks); `full` has the
# shipped architecture's defaults.
API_KEY_ENV = "HARK_API_KEY"  # the service's key, read by `hark serve` and by `hark talk --connect`


class HarkError(Exception):
    """An error the user can fix; printed as one line without a traceback."""


@dataclass
class ModelChoice:
    """Which engine and codec a command runs, and how the engine is stepped (the flags of `hark serve`)."""

    engine: str = field(default=DEFAULT, metadata={"help": ENGINE_SPEC_HELP})
    codec: str = field(default=DEFAULT, metadata={"help": CODEC_SPEC_HELP})
    kbps: float = field(default=3.0, metadata={"help": "codec bitrate"})
    dtype: str = field(default="auto", metadata={"help": "engine weights: auto, float32 or bfloat16"})
    # One thread per operation: the engine and codec run many small operations, which on 2 cores paid more
    # in OpenMP wake-ups than they gained, while sessions and stages already run in parallel on the
    # scheduler and audio worker threads (docs/performance.md)
    threads: int = field(default=1, metadata={"help": "torch threads per operation (0: torch's default)"})
    max_batch: int = field(default=16, metadata={"help": "most sessions stepped in one engine batch"})
    batch_window_ms: float = field(
        default=0.0,
        metadata={
            "help": "longest a session's chunk waits for the other sessions' chunks to share an engine "
            "batch (0: step at once; e.g. 53.3 saves CPU in token mode but adds lag)"
        },
    )


def load_models(choice: ModelChoice) -> tuple[Engine, Codec]:
    """(Engine, Codec) for the flags, checked to fit each other; any problem becomes a one-line HarkError."""
    import torch  # keeps `hark --help` light

    if choice.threads:
        torch.set_num_threads(choice.threads)
    engine = load_engine(choice.engine, choice.dtype)
    codec = load_codec(choice.codec, choice.kbps)
    try:
        engine.check_codec(codec.codes_id)
    except ValueError as e:
        raise HarkError(str(e)) from e
    if codec.num_codebooks != engine.num_codebooks:
        raise HarkError(
            f"the codec gives {codec.num_codebooks} codebooks at {choice.kbps} kbps but the engine reads "
            f"{engine.num_codebooks}; pick the bitrate the engine was trained with (--kbps)"
        )
    return engine, codec


def load_engine(spec: str | None, dtype: str = "auto") -> Engine:
    """The engine a model spec names (random engines are float32); a bad spec or a missing checkpoint
    becomes a one-line HarkError."""
    try:
        return engine_from_spec(spec, dtype)
    except (FileNotFoundError, ValueError) as e:
        raise HarkError(str(e)) from e


def load_codec(spec: str | None, kbps: float = 3.0) -> Codec:
    """The codec a model spec names at `kbps`; a bad spec or a missing checkpoint becomes a one-line
    HarkError."""
    try:
        return codec_from_spec(spec, kbps)
    except (FileNotFoundError, ValueError) as e:
        raise HarkError(str(e)) from e


def current_time_context(style: str = "spoken") -> str:
    """The clock line of the text context, worded as the engine's training data worded it (`style`:
    `Engine.clock_context`)."""
    from engine.data.clock import Clock  # only needed when a session opens

    return Clock(dt.datetime.now()).context(style)


def session_clock(engine: Engine) -> Callable[[], str]:
    """The clock line of `engine`'s sessions, in the wording its checkpoint was trained on."""
    return functools.partial(current_time_context, engine.clock_context)


@contextlib.asynccontextmanager
async def shared_runtime(
    engine: Engine,
    codec: Codec,
    *,
    instructions: str = "",
    sampling: SamplingConfig | None = None,
    max_input_ahead_s: float = 30.0,
    max_batch: int = 16,
    batch_window_s: float = 0.0,
    workers: int = 2,
) -> AsyncIterator[SessionRuntime]:
    """Start the engine scheduler, silero VAD and the codec/VAD worker threads; stop them all on exit.

    Args:
        engine: the engine every session steps on.
        codec: the codec of every session.
        instructions: default text context of sessions.
        sampling: sampling of every session (default: `SamplingConfig()`).
        max_input_ahead_s: how far a client's audio may run ahead of real time.
        max_batch: most sessions the scheduler steps in one batch.
        batch_window_s: how long a chunk waits for other sessions' chunks to share a batch.
        workers: codec/VAD worker threads.
    """
    from app.session import SessionRuntime  # torch and the engine, only when serving
    from audio.vad import SileroVad
    from engine.engine import SamplingConfig
    from engine.scheduler import Scheduler

    vad = await asyncio.to_thread(SileroVad)
    executor = ThreadPoolExecutor(workers, thread_name_prefix="hark-audio")
    try:
        async with Scheduler(engine, max_batch=max_batch, window_s=batch_window_s) as scheduler:
            yield SessionRuntime(
                engine,
                codec,
                scheduler,
                vad,
                executor,
                instructions=instructions,
                sampling=sampling or SamplingConfig(),
                max_input_ahead_s=max_input_ahead_s,
                clock=session_clock(engine),
            )
    finally:
        # The sessions are closed by now: their queued codec/VAD work is moot; only the piece already
        # running is waited for, so no worker thread outlives the runtime.
        executor.shutdown(wait=True, cancel_futures=True)
