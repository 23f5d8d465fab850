"""The text stage: its dialogues share the audio dialogues' layout, keep held-out material out of training,
can be learned, and are decoded by the evaluation exactly as a full forward reads them."""

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.curves import plot_curves, read_curve
from engine.data.align import monologue, transcript
from engine.data.clock import is_held_out_clock, is_training_clock
from engine.data.corpus import normalize_transcript
from engine.data.dialogue import layout, plan_dialogue
from engine.data.numbers import number_words
from engine.data.skills import words_for
from engine.data.skills.arithmetic import is_held_out_pair
from engine.data.synth import cached_speech
from engine.data.text_dialogue import text_dialogue, text_streams, timed_layout
from engine.data.voices import ASSISTANT_VOICE
from engine.dataset import TextWindows, collate, make_window
from engine.engine import Engine
from engine.eval.score import score_turns
from engine.eval.stream import monologue_trace
from engine.eval.text_stage import decode_monologues, evaluate_text_stage, text_cases
from engine.model import PRESETS, ModelConfig, OmniModel
from engine.sampling import greedy_text
from engine.tokenizer import EOS_ID, PAD_ID, TextTokenizer
from engine.train import TrainConfig, compute_losses, is_text_step, train_engine


@pytest.fixture(scope="module")
def tokenizer() -> TextTokenizer:
    return TextTokenizer.load()


def test_text_streams_equal_the_audio_dialogues_for_the_same_timings(tokenizer, tmp_path):
    """With a plan's synthesized word timings, the text stage writes the very tokens on the very steps
    that `hark data synth` writes (its align functions on the real speech)."""
    plan = plan_dialogue(3, "train", interruption_rate=0.0)
    questions = [[cached_speech(p, plan.voice, tmp_path) for p in t.parts] for t in plan.turns]
    answers = [cached_speech(t.exchange.answer, ASSISTANT_VOICE, tmp_path) for t in plan.turns]
    timeline = layout(plan, questions, answers)
    streams = text_streams(plan, timeline, tokenizer)
    assert np.array_equal(streams.text, monologue(timeline, tokenizer))
    assert np.array_equal(streams.user_text, transcript(timeline, tokenizer))
    assert streams.prefix.tolist() == tokenizer.encode_context(plan.clock.context("spoken"))
    # estimated timings move tokens between steps but keep every token and the turn structure
    estimated = text_streams(plan, timed_layout(plan), tokenizer)
    for ours, theirs in ((estimated.text, streams.text), (estimated.user_text, streams.user_text)):
        assert ours[ours != PAD_ID].tolist() == theirs[theirs != PAD_ID].tolist()
    real_s = timeline.num_steps * 1280 / 24000
    assert 0.7 < len(estimated.text) * 1280 / 24000 / real_s < 1.4


def test_each_question_ends_with_eos_before_its_answer_starts(tokenizer):
    """The transcript marks the end of every question (not a mid-question pause) with one EOS, right
    after the question's last word, and mostly early enough for the answer's first monologue token to
    read it (the monologue at step s reads the transcript up to step s - 1; a last word of many tokens
    pushes the EOS later)."""
    paused, in_time, turns = 0, 0, 0
    for seed in range(300):
        d = text_dialogue(seed, "train", tokenizer)
        ends = np.flatnonzero(d.user_text == EOS_ID).tolist()
        assert len(ends) == len(d.plan.turns)
        paused += sum(len(t.parts) > 1 for t in d.plan.turns)
        for turn, end in zip(d.timeline.turns, ends, strict=True):
            assert end > turn["user_end"] and d.user_text[end - 1] != PAD_ID
            answer = turn["user_end"] + 1 + np.flatnonzero(d.text[turn["user_end"] + 1 :] != PAD_ID)[0]
            in_time += end < answer
            turns += 1
        words = tokenizer.decode(d.user_text.tolist()).split()
        assert words == " ".join(normalize_transcript(t.exchange.question) for t in d.plan.turns).split()
    assert paused > 20  # mid-question pauses occurred and got no EOS
    assert in_time > 0.75 * turns


def test_training_text_never_holds_held_out_material(tokenizer):
    """Thousands of training text dialogues: no held-out phrasing, word, clock or number pair."""
    held_words = set(words_for("test"))
    seen_words: set[str] = set()
    for seed in range(3000):
        dialogue = text_dialogue(seed, "train", tokenizer)
        plan = dialogue.plan
        assert is_training_clock(plan.clock.when) and not is_held_out_clock(plan.clock.when)
        for turn in plan.turns:
            ex = turn.exchange
            index = ex.phrasing.rpartition("/")[2]
            assert int(index) % 5 != 4, ex.phrasing
            spoken = re.findall(r"[a-z']+", f"{ex.question} {ex.answer}".lower())
            seen_words.update(spoken)
            numbers = re.match(r"(\w+(?: \w+)?) (plus|minus) (\w+(?: \w+)?) is", ex.answer.lower())
            if ex.skill == "arithmetic" and numbers:
                value = {number_words(n): n for n in range(101)}
                a, op, b = value[numbers.group(1)], numbers.group(2), value[numbers.group(3)]
                assert not is_held_out_pair(op, a, b)
        text = tokenizer.decode(dialogue.text.tolist()) + " " + tokenizer.decode(dialogue.user_text.tolist())
        seen_words.update(re.findall(r"[a-z']+", text.lower()))
    assert not seen_words & held_words
    test_plans = [text_dialogue(seed, "test", tokenizer).plan for seed in range(200)]
    assert all(is_held_out_clock(p.clock.when) for p in test_plans)


def test_text_windows_have_no_audio_and_resume_where_they_left_off(tokenizer):
    """Text windows feed START audio, have no audio targets, and window i is the same from any start."""
    cfg = dataclasses.replace(PRESETS["tiny"], text_vocab_size=tokenizer.vocab_size)
    stream = TextWindows("train", cfg, tokenizer, crop_steps=64)
    batch = collate([stream.window(i) for i in range(4)])
    assert (batch["user"] == cfg.start_code).all() and (batch["asst_in"] == cfg.start_code).all()
    assert (batch["audio"] == -100).all()
    assert (batch["text"] > PAD_ID).any() and (batch["user_text"] > PAD_ID).any()
    later = TextWindows("train", cfg, tokenizer, crop_steps=64, first=2)
    assert torch.equal(next(iter(later))["text"], stream.window(2)["text"])


def _small_config(tokenizer: TextTokenizer, **changes) -> ModelConfig:
    """A tiny model whose full layers see a whole text dialogue (streaming then equals a full forward)."""
    return dataclasses.replace(
        PRESETS["tiny"],
        text_vocab_size=tokenizer.vocab_size,
        context_window=448,
        max_context=64,
        rollback=64,
        **changes,
    )


def test_streaming_decoder_reads_as_the_full_forward(tokenizer):
    """The evaluation's step-by-step decoding (engine caches) picks, at every step, the token a full
    forward over the same inputs predicts: the eval reads the model as training shaped it."""
    torch.manual_seed(0)
    model = OmniModel(_small_config(tokenizer)).eval()
    cases = text_cases(3, seed=0, tokenizer=tokenizer)
    said = decode_monologues(model, cases)
    for case, tokens in zip(cases, said, strict=True):
        S = len(case.text)
        window = make_window(model.config, case.prefix, tokens, case.user_text, None, None, slice(0, S))
        batch = collate([window])
        with torch.no_grad():
            logits, _ = model(
                batch["prefix"], batch["user"], batch["text_in"], batch["user_text_in"], batch["asst_in"],
                audio=False,
            )  # fmt: skip
        assert torch.equal(greedy_text(logits.text[0].float(), PAD_ID), torch.from_numpy(tokens))


def test_a_tiny_model_learns_a_handful_of_text_dialogues(tokenizer):
    """Trained on four text dialogues, a tiny model says their answers (and tool lines) exactly when
    decoded as the evaluation does: the layout, the losses and the decoding agree."""
    torch.manual_seed(0)
    cfg = _small_config(tokenizer, d_model=96, dropout=0.0)
    model = OmniModel(cfg)
    cases = [text_dialogue(seed, "train", tokenizer) for seed in (1, 2, 5, 8)]
    batch = collate(
        [make_window(cfg, c.prefix, c.text, c.user_text, None, None, slice(0, len(c.text))) for c in cases]
    )
    train = TrainConfig(stage="text", pad_weight=1.0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(300):
        logits, routings = model(
            batch["prefix"], batch["user"], batch["text_in"], batch["user_text_in"], batch["asst_in"],
            audio=False,
        )  # fmt: skip
        loss = compute_losses(logits, routings, batch, train, cfg.num_experts)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    for case, said in zip(cases, decode_monologues(model, cases), strict=True):
        trace = monologue_trace(said, case.user_text, tokenizer)
        scores = score_turns(case.timeline, [t.exchange for t in case.plan.turns], trace, judge=None)
        assert all(s.text_ok for s in scores), [(s.expected, s.said) for s in scores]


def test_text_stage_trains_resumes_and_reports_accuracy(tmp_path, tokenizer):
    """`hark train engine --stage text` needs no dataset, logs held-out exact-match accuracy with the
    training minutes, resumes, and its checkpoint says which stage made it."""
    config = TrainConfig(
        stage="text", out=str(tmp_path / "run"), preset="tiny", steps=6, batch_size=2, crop_steps=32,
        warmup=2, log_every=3, eval_every=3, eval_batches=1, save_every=3, text_eval_dialogues=3,
    )  # fmt: skip
    folder = train_engine(config)
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    accuracy = [r for r in records if r["kind"] == "text_accuracy"]
    assert len(accuracy) == 2 and 0.0 <= accuracy[-1]["all"] <= 1.0 and accuracy[0]["train_minutes"] > 0
    assert not any("audio0" in r for r in records)
    meta = json.loads((folder / "checkpoint.json").read_text())
    assert meta["metrics"]["stage"] == "text" and "all" in meta["metrics"]["eval_text_stage"]
    assert "codec_id" not in meta
    config.steps = 9
    train_engine(config)
    assert json.loads((tmp_path / "run" / "state" / "state.json").read_text())["step"] == 9
    curve = read_curve(tmp_path / "run")
    assert [r["step"] for r in curve] == [3, 6, 9]
    assert curve[2]["train_minutes"] >= curve[1]["train_minutes"]  # the clock resumes too
    png = plot_curves({"run": curve}, tmp_path / "curve.png")
    assert png.read_bytes()[:4] == b"\x89PNG"
    report = evaluate_text_stage(OmniModel(_small_config(tokenizer)).eval(), tokenizer, dialogues=2)
    assert report["skills"]["all"]["turns"] >= 2 and report["dialogues"] == 2


def test_text_fraction_spreads_text_steps_evenly():
    """A text fraction f puts a text-only batch on round(f * n) of n steps, spread out; the text stage on
    all of them."""
    half = [is_text_step(s, TrainConfig(text_fraction=0.5)) for s in range(100)]
    assert sum(half) == 50 and not any(a and b for a, b in zip(half, half[1:], strict=False))
    assert sum(is_text_step(s, TrainConfig(text_fraction=0.25)) for s in range(100)) == 25
    assert not any(is_text_step(s, TrainConfig()) for s in range(100))
    assert all(is_text_step(s, TrainConfig(stage="text")) for s in range(10))


@pytest.mark.slow
def test_shipped_text_stage_checkpoint_answers_held_out_text_dialogues(tokenizer):
    """assets/engine-text (73 % exact on 500 held-out text dialogues) loads and answers most of a dozen
    held-out text dialogues exactly; the shipped spoken engine, never trained without audio, answers none."""
    text_stage = Engine.load(Path(__file__).resolve().parents[2] / "assets" / "engine-text", dtype="float32")
    report = evaluate_text_stage(text_stage.model, text_stage.tokenizer, dialogues=12)
    assert report["skills"]["all"]["turns"] >= 24
    assert report["skills"]["all"]["accuracy"] > 0.5
    spoken = Engine.load(dtype="float32")
    assert evaluate_text_stage(spoken.model, spoken.tokenizer, dialogues=4)["skills"]["all"]["correct"] == 0
