"""`hark train codec|engine`: train hark's models (resumable; runs in the background on the CPU, uses a GPU
when one is present)."""

from __future__ import annotations

import argparse

from app.cli import HarkError
from app.config import add_dataclass_arguments, dataclass_from_arguments


def _train_codec(args: argparse.Namespace) -> int:
    from audio.codec_train import CodecTrainConfig, train_codec

    try:
        path = train_codec(dataclass_from_arguments(CodecTrainConfig, args))
    except (FileNotFoundError, ValueError) as e:
        raise HarkError(str(e)) from e
    print(f"codec checkpoint: {path}  (evaluate it with `hark eval codec --codec {path}`)")
    return 0


def _train_engine(args: argparse.Namespace) -> int:
    from engine.train import TrainConfig, check_config, train_engine

    config = dataclass_from_arguments(TrainConfig, args)
    try:
        check_config(config)
    except ValueError as e:
        raise HarkError(str(e)) from e
    try:
        path = train_engine(config)
    except FileNotFoundError as e:
        raise HarkError(str(e)) from e
    print(f"engine checkpoint: {path}  (load it with `Engine.load({str(path)!r})`)")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `hark train` and its targets."""
    from audio.codec_train import CodecTrainConfig

    parser = subparsers.add_parser("train", help="train the codec or the engine", description=__doc__)
    targets = parser.add_subparsers(dest="target", metavar="TARGET", required=True)
    codec = targets.add_parser("codec", help="train the speech codec on synthetic speech")
    add_dataclass_arguments(codec, CodecTrainConfig)
    codec.set_defaults(func=_train_codec)
    from engine.train import TrainConfig

    engine = targets.add_parser("engine", help="train the omni engine on a `hark data synth` dataset")
    add_dataclass_arguments(engine, TrainConfig)
    engine.set_defaults(func=_train_engine)
