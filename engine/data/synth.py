"""`hark data synth`: generate the engine's training dataset (format in docs / engine_api.md).

For each dialogue index: plan it (seeded), synthesize its utterances (cached per utterance), lay both
speakers out on one timeline, align the text streams, render and augment the two channels, encode them
with the codec (cached per dialogue and codec), and write `<out>/<split>/<index>.npz`. Then write
`manifest.jsonl` and `dataset.json`. The same seed gives the same dataset with any number of jobs.

Caches under `<cache>/`: `speech/` (each utterance's audio + word timings, keyed by sha256 of voice and
text) and `codes/<codec id>/` (keyed by the dialogue plan's content hash). Mixing and augmenting from
cached speech takes milliseconds, so mixed audio itself is not stored.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np
from tqdm import tqdm

from audio.tts import SAMPLE_RATE, Voice
from engine.data.align import monologue, transcript
from engine.data.clock import CLOCK_STYLE
from engine.data.config import SynthConfig
from engine.data.dialogue import STEP_SAMPLES, DialoguePlan, layout, plan_dialogue
from engine.data.encode import CodecHandle, encode_channels, open_codec, silence_column
from engine.data.render import render
from engine.data.speech import Speech, speak
from engine.data.voices import ASSISTANT_VOICE
from engine.tokenizer import TextTokenizer

log = logging.getLogger(__name__)
FORMAT_VERSION = 1  # bump when the rendering or alignment rules change (invalidates the codes cache)


def split_of(index: int, config: SynthConfig) -> str:
    """The split of dialogue `index` (a stable hash of seed and index)."""
    digest = hashlib.sha256(f"{config.seed}/{index}".encode()).digest()
    return "test" if int.from_bytes(digest[:4], "big") < config.test_fraction * 2**32 else "train"


def cached_speech(text: str, voice: Voice, cache: Path) -> Speech:
    """`speak(text, voice)`, stored under `cache/speech/` (int16 audio + word timings)."""
    key = hashlib.sha256(f"{voice.key}|{text}".encode()).hexdigest()
    path = cache / "speech" / key[:2] / f"{key}.npz"
    if not path.exists():
        speech = speak(text, voice)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.npz")
        pcm = (np.clip(speech.wav, -1.0, 1.0) * 32767.0).round().astype(np.int16)
        np.savez(tmp, wav=pcm, words=json.dumps(speech.words))
        tmp.replace(path)
    # Always read back from the file, so a first synthesis and a cache hit give identical samples.
    with np.load(path) as data:
        words = [(w, s, e) for w, s, e in json.loads(str(data["words"]))]
        return Speech(data["wav"].astype(np.float32) / 32767.0, words)


def _meta(plan: DialoguePlan, turns: list[dict]) -> dict:
    turn_meta = []
    for record, turn in zip(turns, plan.turns, strict=True):
        ex = turn.exchange
        extra = {"skill": ex.skill, "question": " ".join(turn.parts), "answer": ex.answer, "tool": ex.tool}
        turn_meta.append({**record, **extra, "phrasing": ex.phrasing, "word": ex.word})
    return {
        "skill": turn_meta[0]["skill"],
        "skills": sorted({t["skill"] for t in turn_meta}),
        "voice": plan.voice.key,
        "split": plan.split,
        "seed": plan.seed,
        "context": plan.clock.context(CLOCK_STYLE),
        "augment": asdict(plan.augment),
        "turns": turn_meta,
        "version": FORMAT_VERSION,
    }


class _Worker:
    """Per-process state: the codec and tokenizer are loaded once per worker."""

    def __init__(self, config: SynthConfig, handle: CodecHandle | None = None):
        import torch  # imported here so that only workers pay for it

        torch.set_num_threads(1)  # parallelism comes from the worker processes
        self.config = config
        self.cache = Path(config.cache)
        self.handle = None if config.speech_only else handle or open_codec(config.codec)
        self.tokenizer = TextTokenizer.load(config.tokenizer)

    def dialogue(self, index: int) -> dict:
        """Make dialogue `index`, write its .npz; returns its manifest line (only its speech and {} with
        `speech_only`)."""
        config, split = self.config, split_of(index, self.config)
        plan = plan_dialogue(config.seed * 1_000_003 + index, split, config.interruption_rate)
        questions = [[cached_speech(p, plan.voice, self.cache) for p in t.parts] for t in plan.turns]
        answers = [cached_speech(t.exchange.answer, ASSISTANT_VOICE, self.cache) for t in plan.turns]
        if config.speech_only:
            return {}
        timeline = layout(plan, questions, answers)
        key = f"v{FORMAT_VERSION}-{plan.content_hash()}"
        user, _assistant = render(timeline, plan.augment, seed=plan.seed)
        user_codes, asst_codes = encode_channels(self.handle, user, timeline, key, self.cache)
        meta = _meta(plan, timeline.turns)
        name = f"{split}/{index:06d}.npz"
        path = Path(config.out) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(
            path,
            user_codes=user_codes,
            asst_codes=asst_codes,
            text=monologue(timeline, self.tokenizer),
            user_text=transcript(timeline, self.tokenizer),
            prefix=np.asarray(self.tokenizer.encode_context(plan.clock.context(CLOCK_STYLE)), dtype=np.int32),
            meta=json.dumps(meta),
        )
        seconds = timeline.num_steps * STEP_SAMPLES / SAMPLE_RATE
        interrupted = any(t["interrupted_at"] is not None for t in timeline.turns)
        return {
            "file": name,
            "split": split,
            "skill": meta["skill"],
            "skills": meta["skills"],
            "duration": round(seconds, 3),
            "steps": timeline.num_steps,
            "voice": plan.voice.key,
            "interrupted": interrupted,
        }


_worker: _Worker | None = None


def _init_worker(config: SynthConfig) -> None:
    global _worker
    _worker = _Worker(config)


def _run_one(index: int) -> dict:
    assert _worker is not None, "worker not initialised"
    return _worker.dialogue(index)


def synthesize_dataset(config: SynthConfig, progress: bool = True) -> list[dict]:
    """Write the whole dataset described by `config`; returns the manifest lines (index order)."""
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    indices = range(config.dialogues)
    bar = tqdm(total=config.dialogues, desc="dialogues", unit="dlg", disable=not progress)
    if config.jobs <= 1:
        worker = _Worker(config)
        lines = []
        for i in indices:
            lines.append(worker.dialogue(i))
            bar.update()
        handle = worker.handle
    else:
        with multiprocessing.get_context("spawn").Pool(config.jobs, _init_worker, (config,)) as pool:
            lines = []
            for line in pool.imap(_run_one, indices, chunksize=4):
                lines.append(line)
                bar.update()
        handle = None if config.speech_only else open_codec(config.codec)
    bar.close()
    if config.speech_only:
        return []
    with open(out / "manifest.jsonl", "w") as f:
        f.writelines(json.dumps(line) + "\n" for line in lines)
    _write_summary(config, handle, lines)
    return lines


def _write_summary(config: SynthConfig, handle: CodecHandle, lines: list[dict]) -> None:
    tokenizer_path = Path(config.tokenizer)
    summary = {
        "version": FORMAT_VERSION,
        "codec": config.codec,
        "codec_id": handle.codec_id,
        "clock_context": CLOCK_STYLE,
        "sample_rate": SAMPLE_RATE,
        "frames_per_step": STEP_SAMPLES // handle.codec.frame_size,
        "G": STEP_SAMPLES // handle.codec.frame_size,
        "K": handle.codec.num_codebooks,
        "cardinality": handle.codec.cardinality,
        # the codes of a stream of digital silence (what the assistant channel holds between answers)
        "silence_codes": [int(c) for c in silence_column(handle)],
        "tokenizer": str(tokenizer_path),
        "tokenizer_sha256": hashlib.sha256(tokenizer_path.read_bytes()).hexdigest(),
        "seed": config.seed,
        "config": asdict(config),
        "counts": {s: sum(1 for line in lines if line["split"] == s) for s in ("train", "test")},
        "hours": round(sum(line["duration"] for line in lines) / 3600, 3),
    }
    (Path(config.out) / "dataset.json").write_text(json.dumps(summary, indent=2) + "\n")
