"""Settings of `hark eval engine` (free of heavy imports so the CLI builds its flags instantly)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class EvalConfig:
    """Settings of `hark eval engine` (field names are its flags)."""

    engine: str = field(
        default="default",
        metadata={"help": "engine: default (the shipped one), a checkpoint folder, or random:PRESET"},
    )
    stage: str = field(
        default="dialogue",
        metadata={
            "help": "dialogue: spoken dialogues through codec -> engine -> codec; text: the text stage's "
            "held-out text dialogues (teacher-forced transcript, greedy monologue, exact match)"
        },
    )
    preset: str = field(default="tiny", metadata={"help": "the preset a bare --engine random stands for"})
    codec: str = field(default="default", metadata={"help": "codec: default, a checkpoint, or random:PRESET"})
    dialogues: int = field(default=40, metadata={"help": "held-out dialogues to run"})
    seed: int = field(default=0, metadata={"help": "which held-out dialogues"})
    split: str = field(
        default="test",
        metadata={
            "help": "test: held-out voices, words and phrasings (the bar); train: new dialogues in the "
            "training voices, words and phrasings (a diagnostic: learning vs generalising)"
        },
    )
    voices: str = field(
        default="",
        metadata={
            "help": "whose voices ask (test or train; empty: the split's own): --split train --voices test "
            "asks training words and phrasings in held-out voices"
        },
    )
    interruption_rate: float = field(default=0.3, metadata={"help": "share of dialogues with a barge-in"})
    request_answer_ms: float = field(
        default=0.0,
        metadata={
            "help": "as `hark serve` with server VAD: request the answer (start_turn) when the engine "
            "has not started one this long after a question ends (its silence_duration_ms, 500); "
            "0: the model alone"
        },
    )
    judge: bool = field(default=True, metadata={"help": "judge spoken answers with pocketsphinx"})
    free_wer: bool = field(default=True, metadata={"help": "also transcribe answers freely (slower)"})
    cache: str = field(default="data/cache", metadata={"help": "speech cache folder"})
    out: str = field(default="runs/eval_engine.json", metadata={"help": "JSON report path"})
    write_metrics: bool = field(
        default=False, metadata={"help": "also store the summary in the engine's checkpoint.json"}
    )
