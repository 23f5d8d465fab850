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
    threads: int = field(default=0, metadata={"help": "torch threads (0: torch's default)"})
    max_batch: int = field(default=16, metadata={"help": "most sessions stepped in one engine batch"})


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
    asyncio.run(_serve(config, engine, codec, args.max_batch))
    return 0


def load_models(choice: ModelChoice):
    """(Engine, Codec) for the flags; a missing checkpoint becomes a one-line HarkError."""
    import torch  # noqa: PLC0415

    from audio.codec import build_codec, load_codec  # noqa: PLC0415
    from audio.codec_config import CodecConfig  # noqa: PLC0415
    from engine.engine import Engine  # noqa: PLC0415

    if choice.threads:
        torch.set_num_threads(choice.threads)
    try:
        if choice.engine.startswith("random:"):
            engine = Engine.random(choice.engine.partition(":")[2], dtype="float32")
        else:
            engine = Engine.load(choice.engine or None, dtype=choice.dtype)
        if choice.codec == "random":
            codec = build_codec(CodecConfig(n_filters=RANDOM_CODEC_FILTERS, lstm_layers=0), kbps=choice.kbps)
        else:
            codec = load_codec(choice.codec or None, kbps=choice.kbps)
    except (FileNotFoundError, ValueError) as e:
        raise HarkError(str(e)) from e
    if codec.num_codebooks != engine.num_codebooks:
        raise HarkError(
            f"the codec gives {codec.num_codebooks} codebooks at {choice.kbps} kbps but the engine reads "
            f"{engine.num_codebooks}; pick the bitrate the engine was trained with (--kbps)"
        )
    return engine, codec


async def _serve(config, engine, codec, max_batch: int) -> None:
    from app.server import running_server  # noqa: PLC0415

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with running_server(config, engine, codec, max_batch=max_batch) as server:
        print(
            f"hark serve: listening on ws://{config.host}:{server.port}/v1/realtime (Ctrl-C stops)",
            flush=True,
        )
        await stop.wait()
        print("hark serve: stopping", flush=True)
