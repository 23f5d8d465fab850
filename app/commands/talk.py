"""`hark talk`: talk to the assistant in a terminal UI, through the microphone and speaker or WAV files.

Embedded by default (the engine runs in this process); `--connect ws://HOST:PORT` talks to a `hark serve`.
Everything that can be checked before the screen opens is checked here, so that a missing device or model
is one clear line on the terminal rather than a traceback behind a full-screen UI.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from app.runtime import API_KEY_ENV, HarkError, ModelChoice, load_codec, load_models
from engine.model_spec import CODEC_SPEC_HELP, DEFAULT, ENGINE_SPEC_HELP

DEFAULT_LOG = Path.home() / ".cache" / "hark" / "talk.log"
NO_DEVICE_HINT = (
    "use `hark talk --input FILE` (and `--output FILE`) to talk through WAV files, "
    "or run the assistant as a service with `hark serve`"
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `hark talk`."""
    parser = subparsers.add_parser("talk", help="talk to the assistant in a terminal UI", description=__doc__)
    parser.add_argument("--connect", metavar="URL", help="talk to a `hark serve` at ws://HOST:PORT instead")
    parser.add_argument(
        "--api-key", default=os.environ.get(API_KEY_ENV), help=f"key for --connect (default: ${API_KEY_ENV})"
    )
    parser.add_argument("--input", metavar="FILE", help="read the microphone from this WAV file instead")
    parser.add_argument(
        "--output", metavar="FILE", help="write the speaker to this WAV file instead (on exit)"
    )
    parser.add_argument("--input-device", help="microphone: index or name substring (see `hark devices`)")
    parser.add_argument("--output-device", help="speaker: index or name substring (see `hark devices`)")
    parser.add_argument(
        "--aec",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="echo cancellation (--no-aec for headphones)",
    )
    parser.add_argument(
        "--push-to-talk", action="store_true", help="space starts/ends a turn (default: open mic)"
    )
    parser.add_argument(
        "--tokens", action="store_true", help="send codec tokens, not PCM (the client runs the codec)"
    )
    parser.add_argument("--engine", metavar="SPEC", help=f"{ENGINE_SPEC_HELP} (default: default)")
    parser.add_argument("--codec", metavar="SPEC", help=f"{CODEC_SPEC_HELP} (default: default)")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads per operation (0: torch's default; see serve)"
    )
    parser.add_argument("--instructions", default="", help="extra text context for the assistant")
    parser.add_argument("--log-file", type=Path, default=DEFAULT_LOG, help="where logs go while the UI runs")
    parser.set_defaults(func=run)


def check_audio(args: argparse.Namespace) -> None:
    """Fail early, with the device list, when a needed device is missing or a file is unreadable."""
    from audio.devices import AudioDeviceError, describe_devices, list_devices, resolve_device
    from audio.wavio import read_wav

    if args.input is not None:
        try:
            read_wav(args.input)
        except (OSError, ValueError) as e:
            raise HarkError(f"cannot read --input {args.input}: {e}") from e
    if args.output is not None and not Path(args.output).resolve().parent.is_dir():
        raise HarkError(f"--output {args.output}: its folder does not exist")
    for kind, file, spec in (
        ("input", args.input, args.input_device),
        ("output", args.output, args.output_device),
    ):
        if file is not None:
            continue
        try:
            resolve_device(spec, kind)
        except AudioDeviceError as e:
            if spec is not None:  # an unknown or ambiguous name: the message lists the devices
                raise HarkError(f"{e}; see `hark devices`") from e
            try:
                seen = describe_devices(list_devices())
            except AudioDeviceError:
                seen = "none (PortAudio is missing)"
            raise HarkError(f"no audio {kind} device was found (devices: {seen}); {NO_DEVICE_HINT}") from e


def models_for_mode(args: argparse.Namespace):
    """(engine, codec) as the mode needs them: both embedded, only the codec for --connect --tokens.

    `--engine random:tiny --codec random:tiny` runs untrained models (demos and tests before weights ship).
    """
    choice = ModelChoice(engine=args.engine or DEFAULT, codec=args.codec or DEFAULT, threads=args.threads)
    if args.connect is None:
        return load_models(choice)
    if not args.tokens:
        return None, None
    return None, load_codec(choice.codec, choice.kbps)


def log_to_file(path: Path) -> None:
    """Send logging to a file: anything written to the terminal would tear the full-screen UI."""
    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)


def run(args: argparse.Namespace) -> int:
    """Check, load, then run the UI until the user quits."""
    check_audio(args)  # first: it needs no torch, so a missing device is reported at once
    engine, codec = models_for_mode(args)

    from ui.audio_io import AudioIO, AudioSpec
    from ui.client import TalkClient, TalkConfig
    from ui.transport import EmbeddedConnector, WebsocketConnector, realtime_url

    if args.connect is not None:
        try:
            connector = WebsocketConnector(realtime_url(args.connect), args.api_key)
        except ValueError as e:
            raise HarkError(str(e)) from e
    else:
        connector = EmbeddedConnector(engine, codec)  # instructions go in session.update, as over a socket
    audio = AudioIO(AudioSpec(args.input, args.output, args.input_device, args.output_device))
    config = TalkConfig(
        aec=args.aec, push_to_talk=args.push_to_talk, tokens=args.tokens, instructions=args.instructions
    )
    log_to_file(args.log_file)
    return run_app(
        TalkClient(connector, audio, config, codec if args.tokens else None), connector.description
    )


def run_app(client, title: str) -> int:
    """Run the TUI; a fatal error (e.g. a device that failed to open) becomes a HarkError after it closes."""
    from ui.app import TalkApp

    app = TalkApp(client, title)
    app.run()
    if app.error:
        raise HarkError(app.error)
    return app.return_code or 0
