"""The engine evaluation: streaming runner, pocketsphinx judge, scoring, and `hark respond`."""

import numpy as np
import pytest
import torch
from shaped_engines import quiet_engine

from app.cli import main
from audio.codec import build_codec
from audio.codec_config import CodecConfig
from audio.tts import Voice
from audio.wavio import write_wav
from engine.data.speech import speak
from engine.data.voices import is_held_out_voice
from engine.engine import Engine, SamplingConfig
from engine.eval.config import EvalConfig
from engine.eval.harness import answer_due, make_cases, reference_trace
from engine.eval.judge import SpeechJudge
from engine.eval.respond import respond
from engine.eval.score import report, score_turns, user_wer
from engine.eval.stream import Trace, run_stream
from engine.tokenizer import TextTokenizer


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    torch.set_num_threads(1)
    config = EvalConfig(dialogues=3, interruption_rate=1.0, cache=str(tmp_path_factory.mktemp("cache")))
    return make_cases(config)


def test_cases_come_from_the_chosen_split(cases, tmp_path):
    """The default cases speak in held-out voices; --split train draws new dialogues in training voices;
    any other split is refused by name."""
    assert all(is_held_out_voice(case.plan.voice) for case in cases)
    train = make_cases(EvalConfig(dialogues=2, split="train", cache=str(tmp_path)))
    assert [case.plan.split for case in train] == ["train", "train"]
    assert not any(is_held_out_voice(case.plan.voice) for case in train)
    with pytest.raises(ValueError, match="'dev'"):
        make_cases(EvalConfig(dialogues=1, split="dev", cache=str(tmp_path)))


@pytest.fixture(scope="module")
def small():
    torch.set_num_threads(1)
    codec = build_codec(CodecConfig(n_filters=4, dimension=32, lstm_layers=1), kbps=3.0)
    return Engine.random("tiny"), codec


def test_reference_answers_score_perfectly_on_text_and_timing(cases):
    """The data's own streams are judged correct, answered within 300 ms, and stop within 150 ms."""
    tokenizer = TextTokenizer.load()
    scores, errors = [], [0, 0]
    for case in cases:
        exchanges = [t.exchange for t in case.plan.turns]
        trace = reference_trace(case, tokenizer)
        scores += score_turns(case.timeline, exchanges, trace, judge=None)
        errors = [a + b for a, b in zip(errors, user_wer(exchanges, trace), strict=True)]
    result = report(scores, tuple(errors), [])
    overall = result["skills"]["all"]
    assert overall["text_accuracy"] == 1.0 and overall["answered_within_300ms"] == 1.0
    assert 150 <= overall["latency_ms_p50"] <= 230  # the data's 3-4 step response gap
    assert result["interruptions"] >= 1 and result["stopped_within_150ms"] == 1.0
    assert result["user_transcript_wer"] == 0.0


def test_wrong_or_missing_answers_are_marked(cases):
    """A trace that says something else is wrong by text; one that stays silent has no latency."""
    case = cases[0]
    exchanges = [t.exchange for t in case.plan.turns]
    steps = case.timeline.num_steps
    silent = Trace(np.zeros(steps, np.int64), ["" for _ in range(steps)], [""] * steps, np.zeros(steps, bool))
    silent.audio = np.zeros(steps * 1280, np.float32)
    wrong = Trace(silent.text, [" banana" if i % 50 == 0 else "" for i in range(steps)], silent.user_pieces,
                  silent.speaking, [], case.assistant)  # fmt: skip
    for trace in (silent, wrong):
        scores = score_turns(case.timeline, exchanges, trace, judge=None)
        assert not any(s.text_ok for s in scores)
    assert all(s.latency_ms is None for s in score_turns(case.timeline, exchanges, silent, judge=None))
    assert user_wer(exchanges, silent)[0] == user_wer(exchanges, silent)[1]  # every word deleted


def test_judge_picks_spoken_answers_from_the_skill_grammar():
    """pocketsphinx, restricted to a skill's answers, recovers clear reference answers exactly."""
    judge = SpeechJudge()
    rms = Voice("flite", "rms")
    for skill, answer in [
        ("arithmetic", "seventeen plus five is twenty two"),
        ("time", "it is eleven o'clock at night"),
        ("timer", "okay a timer for half an hour starting now"),
        ("repeat", "lantern"),
        ("fallback", "sorry i can't help with that yet"),
    ]:
        assert judge.pick(speak(answer, rms).wav, skill) == answer


def test_stream_runs_codec_engine_codec_step_by_step(small):
    """Every 53 ms chunk of input gives one step: tokens, a speaking flag, 1280 samples of audio, a time."""
    engine, codec = small
    wav = speak("what is two plus two", Voice("flite", "kal")).wav
    trace = run_stream(engine, codec, wav, context="current time: Monday 23 November 2026, 14:05")
    steps = -(-len(wav) // 1280)
    assert len(trace.text) == len(trace.pieces) == len(trace.user_pieces) == len(trace.speaking) == steps
    assert trace.audio.shape == (steps * 1280,) and trace.audio.dtype == np.float32
    assert len(trace.step_ms) == steps and min(trace.step_ms) > 0


def test_stream_requests_an_answer_the_engine_let_pass(small, cases):
    """answer_due: an engine that never speaks on its own (greedy, all ties) is made to start a turn at the
    due step, and only when it has been silent since the question ended."""
    _, codec = small
    quiet = quiet_engine(seed=2)
    greedy = SamplingConfig(audio_temperature=0.0)
    case = cases[0]
    due = answer_due(case, quiet.step_seconds, EvalConfig(request_answer_ms=500))
    first_due, first_end = min(due.items())
    assert first_due - first_end == 10  # 500 ms in 53 ms steps
    alone = run_stream(quiet, codec, case.user, sampling=greedy)
    helped = run_stream(quiet, codec, case.user, sampling=greedy, answer_due=due)
    assert not alone.speaking.any()
    assert not helped.speaking[:first_due].any() and helped.speaking[first_due]
    assert answer_due(case, quiet.step_seconds, EvalConfig()) == {}  # the default measures the model alone


def test_respond_summarises_a_recorded_question(small, tmp_path):
    """`respond` streams the question plus a silent tail and reports transcript, monologue and timing."""
    engine, codec = small
    wav = speak("hello", Voice("espeak-ng", "en-us+m3")).wav
    audio, summary = respond(engine, codec, wav, 24000, tail_s=1.0, context="current time: x")
    assert summary["steps"] == -(-(len(wav) + 24000) // 1280) and len(audio) == summary["steps"] * 1280
    assert summary["question_end_step"] is not None and summary["question_end_step"] < summary["steps"] - 15
    assert set(summary) >= {"monologue", "user_transcript", "tool_calls", "response_latency_ms"}


def test_respond_command_reports_a_missing_engine(tmp_path, capsys):
    """`hark respond` with no trained engine fails with one line naming the checkpoint path."""
    question = tmp_path / "q.wav"
    write_wav(question, np.zeros(2400, np.float32), 24000)
    code = main(["respond", str(question), str(tmp_path / "a.wav"), "--engine", str(tmp_path / "none")])
    assert code == 1 and str(tmp_path / "none") in capsys.readouterr().err
    assert not (tmp_path / "a.json").exists()


def test_eval_command_writes_its_summary_into_the_checkpoint(tmp_path):
    """`hark eval engine --write-metrics` stores the held-out scores in checkpoint.json."""
    from engine.weights import read_meta, save_checkpoint

    torch.set_num_threads(1)
    folder = save_checkpoint(Engine.random("tiny").model, tmp_path / "engine", metrics={"train": 1})
    args = ["eval", "engine", "--engine", str(folder), "--codec", "random:full", "--dialogues", "1"]
    args += ["--no-judge", "--no-free-wer", "--cache", str(tmp_path / "cache")]
    args += ["--out", str(tmp_path / "r.json"), "--request-answer-ms", "500"]
    assert main([*args, "--write-metrics"]) == 0
    metrics = read_meta(folder)["metrics"]
    assert metrics["train"] == 1  # merged, not replaced
    assert metrics["eval_engine"]["dialogues"] == 1 and "all" in metrics["eval_engine"]["skills"]
    assert metrics["eval_engine"]["request_answer_ms"] == 500  # the rule the scores were taken under
    assert "turn_details" not in metrics["eval_engine"]
