"""`hark serve`: the realtime websocket service at ws://HOST:PORT/v1/realtime (docs/protocol.md).

`--engine random:tiny --codec random:tiny` runs the whole service on an untrained engine and a small
random codec (the audio is noise, the protocol is real); model specs are described in app/model_spec.py.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import signal

from app.config import add_dataclass_arguments, dataclass_from_arguments
from app.runtime import API_KEY_ENV, HarkError, ModelChoice, load_models


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `hark serve`."""
    from app.server import ServerConfig  # keeps `hark --help` light

    parser = subparsers.add_parser("serve", help="run the realtime websocket service", description=__doc__)
    add_dataclass_arguments(parser, ServerConfig)
    add_dataclass_arguments(parser, ModelChoice)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load the models, serve until SIGINT/SIGTERM, exit 0."""
    from app.server import ServerConfig

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


async def _serve(config, engine, codec, max_batch: int, batch_window_s: float) -> None:
    from app.protocol import REALTIME_PATH
    from app.server import running_server

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with running_server(
        config, engine, codec, max_batch=max_batch, batch_window_s=batch_window_s
    ) as server:
        print(
            f"hark serve: listening on ws://{config.host}:{server.port}{REALTIME_PATH} (Ctrl-C stops)",
            flush=True,
        )
        await stop.wait()
        print("hark serve: stopping", flush=True)
