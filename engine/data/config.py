"""Settings of `hark data synth` (kept free of heavy imports so the CLI can build its flags instantly)."""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.tokenizer import DEFAULT_PATH


@dataclass
class SynthConfig:
    """Settings of `hark data synth` (field names are its flags)."""

    out: str = field(default="data/engine", metadata={"help": "dataset folder to write"})
    dialogues: int = field(default=9000, metadata={"help": "number of dialogues"})
    test_fraction: float = field(
        default=0.1, metadata={"help": "share of dialogues in the held-out test split"}
    )
    seed: int = field(default=0, metadata={"help": "dataset seed"})
    jobs: int = field(default=2, metadata={"help": "worker processes"})
    codec: str = field(
        default="random:full",
        metadata={"help": "codec: default (the shipped one), a checkpoint, or random:full (untrained)"},
    )
    cache: str = field(default="data/cache", metadata={"help": "cache folder for speech and codes"})
    tokenizer: str = field(default=str(DEFAULT_PATH), metadata={"help": "SentencePiece model"})
    interruption_rate: float = field(default=0.3, metadata={"help": "share of dialogues with a barge-in"})
    speech_only: bool = field(
        default=False,
        metadata={
            "help": "only synthesize and cache the utterances (no codec, no dataset): the slow TTS part can "
            "run while the codec still trains"
        },
    )
