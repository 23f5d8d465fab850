"""`hark serve`: the realtime websocket service at ws://HOST:PORT/v1/realtime (docs/protocol.md).

Until trained weights ship, `--engine random:tiny --codec random` runs the whole service on an untrained
engine and a small random codec (the audio is noise, the protocol is real).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import signal
from dataclasses import dataclass, field

from app.cli import HarkError
from app.config import add_dataclass_arguments, dataclass_from_arguments

API_KEY_ENV = "HARK_API_KEY"
RANDOM_CODEC_FILTERS = 8  # width of the random codec: small, so it runs far faster than real time


@dataclass
class ModelChoice:
    """Which engine and codec the service runs."""

    engine: str = field(
        default="", metadata={"help": "engine checkpoint folder, or random:PRESET (default: assets/engine)"}
    )
    codec: str = field(
        default="", metadata={"help": "codec checkpoint, or 'random' (default: the shipped one)"}
    )
    kbps: float = field(default=3.0, metadata={"help": "codec bitrate"})
    dtype: str = field(default="auto", metadata={"help": "engine weights: auto, float32 or bfloat16"})
    # One thread per operation: the engine and codec run many small operations, which on 2 cores paid more
    # in OpenMP wake-ups than they gained, while sessions and stages already run in parallel on the
    # scheduler and audio worker threads (docs/performance.md: 10 token-mode sessions instead of 4)
    threads: int = field(default=1, metadata={"help": "torch threads per operation (0: torch's default)"})
    max_batch: int = field(default=16, metadata={"help": "most sessions stepped in one engine batch"})
    batch_window_ms: float = field(
        default=0.0,
        metadata={
            "help": "longest a session's chunk waits for the other sessions' chunks to share an engine "
            "batch (0: step at once; e.g. 53.3 saves CPU in token mode but adds lag)"
        },
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `hark serve`."""
    from app.server import ServerConfig  # noqa: PLC0415 - keeps `hark --help` light

    parser = subparsers.add_parser("serve", help="run the realtime websocket service", description=__doc__)
    add_dataclass_arguments(parser, ServerConfig)
    add_dataclass_arguments(parser, ModelChoice)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load the models, serve until SIGINT/SIGTERM, exit 0."""
    from app.server import ServerConfig  # noqa: PLC0415

    config = dataclass_from_arguments(ServerConfig, args)
    if not config.api_key and os.environ.get(API_KEY_ENV):
        config = dataclasses.replace(config, api_key=os.environ[API_KEY_ENV])
    try:
        config.check()
    except ValueError as e:
        raise HarkError(str(e)) from e
    engine, codec = load_models(dataclass_from_arguments(ModelChoice, args))
    asyncio.run(_serve(config, engine, codec, args.max_batch, args.batch_window_ms / 1000))
    return 0


def load_models(choice: ModelChoice):
    """(Engine, Codec) for the flags; a missing checkpoint becomes a one-line HarkError."""
    import torch  # noqa: PLC0415

    from engine.engine import Engine  # noqa: PLC0415

    if choice.threads:
        torch.set_num_threads(choice.threads)
    try:
        if choice.engine.startswith("random:"):
            engine = Engine.random(choice.engine.partition(":")[2], dtype="float32")
        else:
            engine = Engine.load(choice.engine or None, dtype=choice.dtype)
    except (FileNotFoundError, ValueError) as e:
        raise HarkError(str(e)) from e
    codec = load_codec_choice(choice.codec, choice.kbps)
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


def load_codec_choice(name: str, kbps: float):
    """The codec for `--codec NAME`: "random" (untrained, seeded, so a token-mode client and the server
    build the same one), a checkpoint path, or "" for the default (audio.codec.load_codec); a missing
    checkpoint becomes a one-line HarkError."""
    from audio.codec import build_codec, load_codec  # noqa: PLC0415
    from audio.codec_config import CodecConfig  # noqa: PLC0415

    if name == "random":
        return build_codec(CodecConfig(n_filters=RANDOM_CODEC_FILTERS, lstm_layers=0), kbps=kbps)
    try:
        return load_codec(name or None, kbps=kbps)
    except (FileNotFoundError, ValueError) as e:
        raise HarkError(str(e)) from e


async def _serve(config, engine, codec, max_batch: int, batch_window_s: float) -> None:
    from app.server import running_server  # noqa: PLC0415

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with running_server(
        config, engine, codec, max_batch=max_batch, batch_window_s=batch_window_s
    ) as server:
        print(
            f"hark serve: listening on ws://{config.host}:{server.port}/v1/realtime (Ctrl-C stops)",
            flush=True,
        )
        await stop.wait()
        print("hark serve: stopping", flush=True)
