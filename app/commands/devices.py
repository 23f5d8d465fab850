"""`hark devices`: list the audio input and output devices PortAudio sees, marking the defaults."""

from __future__ import annotations

import argparse

from app.runtime import HarkError

NO_DEVICES_HINT = (
    "No audio devices found. hark talk needs a microphone and a speaker; without them use "
    "`hark talk --input FILE` or `hark serve`. On a machine without a sound card, `pulseaudio --start "
    "--exit-idle-time=-1` gives a null sink and its monitor as devices (the tests start their own)."
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `hark devices`."""
    parser = subparsers.add_parser(
        "devices",
        help="list audio input/output devices",
        description=__doc__ + " Pass an index or a name substring to --input-device / --output-device.",
    )
    parser.set_defaults(func=run)


def format_table(devices: list) -> str:
    """The device table: index, defaults, channels, default rate, name and host API."""
    lines = [f"{'index':>5}  {'default':<8} {'in':>3} {'out':>3} {'rate':>6}  name"]
    for d in devices:
        default = ",".join(k for k, on in (("in", d.default_input), ("out", d.default_output)) if on) or "-"
        lines.append(
            f"{d.index:>5}  {default:<8} {d.input_channels:>3} {d.output_channels:>3} "
            f"{d.default_rate:>6.0f}  {d.name} ({d.host_api})"
        )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Print the table; exit 1 with an explanation when PortAudio or every device is missing."""
    from audio.devices import AudioDeviceError, list_devices

    try:
        devices = list_devices()
    except AudioDeviceError as e:
        raise HarkError(str(e)) from e
    if not devices:
        print(NO_DEVICES_HINT)
        return 1
    print(format_table(devices))
    return 0
