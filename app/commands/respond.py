"""`hark respond IN.wav OUT.wav`: answer a recorded question offline (codec -> engine -> codec).

Writes the assistant's audio to OUT.wav and its monologue, the user transcript, tool calls and timings
to OUT.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from engine.model_spec import CODEC_SPEC_HELP, DEFAULT, ENGINE_SPEC_HELP


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `hark respond`."""
    parser = subparsers.add_parser("respond", help="answer a recorded question (WAV in, WAV + JSON out)")
    parser.add_argument("input", help="the question, a PCM WAV file (any rate, mono or stereo)")
    parser.add_argument("output", help="WAV file for the assistant's answer (JSON written beside it)")
    parser.add_argument(
        "--engine", metavar="SPEC", default=None, help=f"{ENGINE_SPEC_HELP} (default: default)"
    )
    parser.add_argument("--codec", metavar="SPEC", default=None, help=f"{CODEC_SPEC_HELP} (default: default)")
    parser.add_argument("--tail", type=float, default=4.0, help="seconds of silence streamed after the input")
    parser.add_argument("--context", default=None, help="text context (default: the current time)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the question through the pipeline and write the answer."""
    from app.runtime import HarkError, ModelChoice, load_models
    from audio.tts import SAMPLE_RATE
    from audio.wavio import read_wav, write_wav
    from engine.eval.respond import respond

    try:
        wav, rate = read_wav(args.input)
    except (FileNotFoundError, ValueError) as e:
        raise HarkError(str(e)) from e
    engine, codec = load_models(ModelChoice(engine=args.engine or DEFAULT, codec=args.codec or DEFAULT))
    audio, summary = respond(engine, codec, wav, rate, tail_s=args.tail, context=args.context)
    out = Path(args.output)
    write_wav(out, audio, SAMPLE_RATE)
    out.with_suffix(".json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"monologue: {summary['monologue']!r}  heard: {summary['user_transcript']!r}")
    print(f"response latency {summary['response_latency_ms']} ms; wrote {out} and {out.with_suffix('.json')}")
    return 0
