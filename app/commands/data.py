"""`hark data`: make the engine's training data.

hark data synth --out data/engine --dialogues 3000 --seed 0 --jobs 2 --codec random:full|default|PATH
hark data show data/engine/train/000000.npz     # one dialogue's aligned streams, for debugging
hark data tokenizer                              # retrain assets/engine/tokenizer.model
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from app.config import add_dataclass_arguments, dataclass_from_arguments


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `hark data` and its subcommands."""
    from engine.data.config import SynthConfig  # light: no torch at import time

    parser = subparsers.add_parser("data", help="synthesize the engine's training dialogues")
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    synth = sub.add_parser("synth", help="render, align and encode synthetic dialogues")
    add_dataclass_arguments(synth, SynthConfig)
    synth.set_defaults(func=run_synth)
    show = sub.add_parser("show", help="print one dialogue's aligned text streams and turns")
    show.add_argument("file", help="a dialogue .npz written by `hark data synth`")
    show.add_argument("--all-steps", action="store_true", help="print every step, not only eventful ones")
    show.set_defaults(func=run_show)
    tok = sub.add_parser("tokenizer", help="train the text tokenizer on the template corpus")
    tok.add_argument("--vocab-size", type=int, default=1280, help="ids including 6 reserved and 256 bytes")
    tok.add_argument("--out", default=None, help="model path (default: assets/engine/tokenizer.model)")
    tok.set_defaults(func=run_tokenizer)


def run_synth(args: argparse.Namespace) -> int:
    """Write the dataset and print a summary."""
    from app.cli import HarkError
    from engine.data.config import SynthConfig
    from engine.data.synth import synthesize_dataset

    config = dataclass_from_arguments(SynthConfig, args)
    start = time.perf_counter()
    try:
        lines = synthesize_dataset(config)
    except FileNotFoundError as e:
        raise HarkError(str(e)) from e
    elapsed = time.perf_counter() - start
    if config.speech_only:
        print(f"cached the speech of {config.dialogues} dialogues under {config.cache} in {elapsed:.0f} s")
        return 0
    hours = sum(line["duration"] for line in lines) / 3600
    print(
        f"wrote {len(lines)} dialogues ({hours:.2f} h of audio) to {config.out} in {elapsed:.0f} s "
        f"({len(lines) / elapsed:.2f} dialogues/s with {config.jobs} jobs)"
    )
    return 0


def run_show(args: argparse.Namespace) -> int:
    """Print the dialogue's turns and, per step, both text streams."""
    import numpy as np

    from app.cli import HarkError
    from engine.data.show import format_dialogue
    from engine.tokenizer import TextTokenizer

    path = Path(args.file)
    if not path.is_file():
        raise HarkError(f"{path} does not exist; pass a .npz written by `hark data synth`")
    summary = path.parent.parent / "dataset.json"
    tokenizer_path = json.loads(summary.read_text())["tokenizer"] if summary.is_file() else None
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    print(format_dialogue(arrays, TextTokenizer.load(tokenizer_path), all_steps=args.all_steps))
    return 0


def run_tokenizer(args: argparse.Namespace) -> int:
    """Retrain the tokenizer from the template corpus."""
    from engine.data.corpus import tokenizer_corpus
    from engine.tokenizer import DEFAULT_PATH, TextTokenizer

    out = Path(args.out) if args.out else DEFAULT_PATH
    tokenizer = TextTokenizer.train(tokenizer_corpus(), vocab_size=args.vocab_size, out=out)
    print(f"wrote {out} ({tokenizer.vocab_size} ids)")
    return 0
