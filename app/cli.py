"""The `hark` command: one parser, one subcommand per module in app/commands.

Only the module of the subcommand being run is imported (the others appear in `hark --help` by name and
summary), so a command never pays for torch or the engine unless it uses them.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from app.runtime import HarkError

# OpenMP threads that spin while waiting for a core make torch several times slower on a busy 2-core
# machine (docs/engine.md, "Speed"). It must be set before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__all__ = ["COMMANDS", "HarkError", "build_parser", "main"]  # HarkError: app/runtime.py's, printed here

# (subcommand, module under app.commands, summary); the order is the order shown by `hark --help`.
# Each module exposes `register(subparsers)`, which adds its parser under the same name.
COMMANDS: list[tuple[str, str, str]] = [
    ("talk", "talk", "talk to the assistant in a terminal UI (microphone and speaker)"),
    ("serve", "serve", "run the realtime websocket service"),
    ("respond", "respond", "answer a recorded question: WAV in, WAV + JSON out"),
    ("codec", "codec", "encode, decode or round-trip audio through the speech codec"),
    ("data", "data", "synthesize training dialogues"),
    ("train", "train", "train the codec or the engine"),
    ("eval", "evaluate", "evaluate the codec or the engine"),
    ("bench", "bench", "measure speed: codec, engine, latency, barge-in, capacity"),
    ("devices", "devices", "list audio input and output devices"),
    ("doctor", "doctor", "check the installation and say what is missing"),
]


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Build the top-level parser; only `command`'s module is imported, to register its full parser."""
    parser = argparse.ArgumentParser(
        prog="hark",
        description="hark: a real-time voice assistant you can interrupt. "
        "Speech in, speech out, one mixture-of-experts model in between.",
    )
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="logging verbosity"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name, summary in COMMANDS:
        if name == command:
            importlib.import_module(f"app.commands.{module_name}").register(sub)
        else:
            sub.add_parser(name, help=summary)
    return parser


def _command_in(argv: list[str]) -> str | None:
    """The subcommand named in `argv` (the first known command word), if any."""
    names = {name for name, _, _ in COMMANDS}
    return next((word for word in argv if word in names), None)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `hark` console script; returns the process exit code."""
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(_command_in(argv))
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S"
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except HarkError as e:
        print(f"hark: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
