"""Dialogue synthesis end to end with real espeak-ng/flite/festival and a small random codec."""

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from app.cli import main
from audio.codec import build_codec
from audio.codec_config import CodecConfig
from audio.tts import Voice, voice_catalog
from engine.data.align import monologue
from engine.data.clock import Clock
from engine.data.config import SynthConfig
from engine.data.corpus import normalize_transcript
from engine.data.dialogue import RESPONSE_STEPS, STEP_SAMPLES, layout, plan_dialogue
from engine.data.encode import CodecHandle, assistant_codes, open_codec
from engine.data.render import render
from engine.data.skills import all_phrasings, held_out_words
from engine.data.speech import speak
from engine.data.synth import _Worker, cached_speech, synthesize_dataset
from engine.data.voices import ASSISTANT_VOICE, is_held_out_voice, user_voices
from engine.tokenizer import CTX_ID, EOS_ID, PAD_ID, TOOL_ID, TextTokenizer

DIALOGUES = 6


def small_codec() -> CodecHandle:
    """A random codec, narrow enough to encode a dialogue in well under a second."""
    torch.set_num_threads(1)  # as in synthesis workers: float rounding, hence codes, depends on threads
    return CodecHandle(
        build_codec(CodecConfig(n_filters=4, dimension=32, lstm_layers=1), kbps=3.0), "test-small"
    )


def make_dataset(root: Path, dialogues: int = DIALOGUES, seed: int = 3) -> list[dict]:
    config = SynthConfig(
        out=str(root / "ds"), dialogues=dialogues, test_fraction=0.5, seed=seed, jobs=1,
        cache=str(root / "cache"), interruption_rate=0.6,
    )  # fmt: skip
    worker = _Worker(config, small_codec())
    lines = [worker.dialogue(i) for i in range(dialogues)]
    (root / "ds" / "manifest.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return lines


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> tuple[Path, list[dict], list[dict]]:
    root = tmp_path_factory.mktemp("data")
    lines = make_dataset(root)
    loaded = []
    for line in lines:
        with np.load(root / "ds" / line["file"]) as data:
            loaded.append({k: data[k] for k in data.files})
    return root / "ds", lines, loaded


@pytest.fixture(scope="module")
def tokenizer() -> TextTokenizer:
    return TextTokenizer.load()


def test_arrays_have_the_documented_shapes(dataset):
    """Codes int16 [4, F] with F a multiple of 4, text streams int32 [F/4], prefix starts with CTX_ID."""
    folder, lines, loaded = dataset
    assert {line["split"] for line in lines} == {"train", "test"}
    for line, d in zip(lines, loaded, strict=True):
        k, frames = d["user_codes"].shape
        assert (k, d["user_codes"].dtype, d["asst_codes"].shape) == (4, np.int16, (4, frames))
        assert frames % 4 == 0 and frames // 4 == line["steps"]
        assert d["text"].shape == d["user_text"].shape == (frames // 4,) and d["text"].dtype == np.int32
        assert d["prefix"].dtype == np.int32 and d["prefix"][0] == CTX_ID
        assert 4.0 < line["duration"] < 30.0
        assert json.loads(str(d["meta"]))["split"] == line["split"]


def turn_ends(text) -> list[int]:
    """Steps of the EOS tokens that end turns (a tool line is closed by its own EOS first)."""
    ends, in_tool = [], False
    for i, token in enumerate(text):
        if token == TOOL_ID:
            in_tool = True
        elif token == EOS_ID:
            if not in_tool:
                ends.append(i)
            in_tool = False
    return ends


def test_streams_decode_to_the_dialogue_text(dataset, tokenizer):
    """The monologue spells each answer (and tool line) and the transcript each question, turn by turn."""
    _, _, loaded = dataset
    for d in loaded:
        meta = json.loads(str(d["meta"]))
        text = list(d["text"])
        ends = turn_ends(text)
        assert len(ends) == len(meta["turns"])
        begin = 0
        for turn, end in zip(meta["turns"], ends, strict=True):
            said = tokenizer.decode(text[begin:end])
            if turn["interrupted_at"] is None:
                expected = turn["answer"] + (" " + turn["tool"] if turn["tool"] else "")
                assert said.replace(" ", "") == expected.replace(" ", "")
                assert (TOOL_ID in text[begin:end]) == bool(turn["tool"])
            else:
                assert turn["answer"].replace(" ", "").startswith(said.replace(" ", ""))
            begin = end + 1
        heard = tokenizer.decode(d["user_text"])
        assert heard == " ".join(normalize_transcript(t["question"]) for t in meta["turns"])


def timeline_of(plan, cache: Path):
    questions = [[cached_speech(p, plan.voice, cache) for p in t.parts] for t in plan.turns]
    answers = [cached_speech(t.exchange.answer, ASSISTANT_VOICE, cache) for t in plan.turns]
    return layout(plan, questions, answers)


def test_assistant_text_comes_one_step_before_its_audio(dataset, tokenizer):
    """Each answer's audio starts on its asst_start step, and its first text token is one step earlier."""
    folder, _, _ = dataset
    for seed in range(3):
        plan = plan_dialogue(seed, "train", interruption_rate=1.0)
        timeline = timeline_of(plan, folder.parent / "cache")
        _, assistant = render(timeline, plan.augment, seed=0)
        audible = np.abs(assistant).reshape(-1, STEP_SAMPLES).max(axis=1) > 1e-3  # per step
        text = monologue(timeline, tokenizer)
        previous = 0
        for turn in timeline.turns:
            first_audio = previous + int(np.flatnonzero(audible[previous:])[0])
            first_token = previous + int(np.flatnonzero(text[previous:] != PAD_ID)[0])
            assert first_audio == turn["asst_start"] and first_token == first_audio - 1
            assert not audible[turn["asst_end"] : turn["asst_end"] + 2].any()
            previous = min(e for e in turn_ends(text) if e >= turn["asst_start"]) + 1


def test_assistant_waits_for_the_question_and_stops_when_interrupted(dataset):
    """Answers start RESPONSE_STEPS after the question ends; overlap with the user happens only in a
    barge-in, where the assistant stops 1-2 steps after the user starts and EOS marks the cut."""
    _, lines, loaded = dataset
    assert any(line["interrupted"] for line in lines)
    for d in loaded:
        turns = json.loads(str(d["meta"]))["turns"]
        for i, turn in enumerate(turns):
            assert turn["asst_start"] == turn["user_end"] + RESPONSE_STEPS
            for other in turns:
                overlap = min(turn["asst_end"], other["user_end"] + 1) - max(
                    turn["asst_start"], other["user_start"]
                )
                if overlap > 0:
                    assert turn["interrupted_at"] is not None and other is turns[i + 1]
                    assert turn["interrupted_at"] - other["user_start"] in (1, 2)
            if turn["interrupted_at"] is not None:
                assert d["text"][turn["interrupted_at"]] == EOS_ID
                assert turn["asst_end"] == turn["interrupted_at"]


def test_held_out_voices_words_and_phrasings_never_train():
    """Training plans never use a held-out voice, word or phrasing; test plans do use held-out ones."""
    held_words = set(held_out_words())
    held_phrasings = {
        f"{p.name}/{i}" for p in all_phrasings() for i in range(len(p.templates)) if p.held_out(i)
    }
    seen = {"train": set(), "test": set()}
    for split in ("train", "test"):
        for seed in range(400):
            plan = plan_dialogue(seed, split)
            assert is_held_out_voice(plan.voice) == (split == "test")
            assert plan.voice != ASSISTANT_VOICE
            for turn in plan.turns:
                ex = turn.exchange
                words = set(re.findall(r"[a-z']+", (ex.question + " " + ex.answer).lower()))
                if split == "train":
                    assert not words & held_words and ex.phrasing not in held_phrasings
                elif ex.word is not None:
                    assert ex.word in held_words
                seen[split].add(ex.phrasing)
    assert seen["test"] & held_phrasings


def test_training_users_include_female_pitch_and_the_test_pool_stays():
    """The training split draws flite kal voices raised into the female range; the held-out pool is exactly
    voice_catalog()'s held-out voices, so held-out scores stay comparable across corpora."""
    pitches = {plan_dialogue(seed, "train").voice.f0_hz for seed in range(600)}
    assert pitches & {170, 220}
    test_pool = {v for pool in user_voices("test").values() for v in pool}
    assert test_pool == {v for v in voice_catalog() if is_held_out_voice(v)}


def test_voice_split_changes_only_the_voice():
    """plan_dialogue(..., voice_split="test") asks the training split's questions in a held-out voice."""
    for seed in range(50):
        own, crossed = plan_dialogue(seed, "train"), plan_dialogue(seed, "train", voice_split="test")
        assert is_held_out_voice(crossed.voice) and not is_held_out_voice(own.voice)
        assert [t.parts for t in crossed.turns] == [t.parts for t in own.turns]
        assert crossed.split == "train" and crossed.clock == own.clock


def test_same_seed_same_dataset(dataset, tmp_path):
    """Regenerating with the same seed in a fresh folder and cache gives identical arrays."""
    folder, lines, loaded = dataset
    again = make_dataset(tmp_path, dialogues=2)
    for line, d in zip(again, loaded, strict=False):
        with np.load(tmp_path / "ds" / line["file"]) as data:
            for key in ("user_codes", "asst_codes", "text", "user_text", "prefix", "meta"):
                assert np.array_equal(data[key], d[key]), key


def test_assembled_assistant_codes_match_a_whole_channel_encode(tmp_path):
    """Pasting per-answer codes into silence reproduces encoding the whole assistant channel, except for
    rare frames where float rounding flips a near-tie between two codes."""
    handle = small_codec()
    for seed in (7, 8):
        plan = plan_dialogue(seed, "train", interruption_rate=1.0)
        timeline = timeline_of(plan, tmp_path)
        _, assistant = render(timeline, plan.augment, seed=0)
        assembled, whole = assistant_codes(handle, timeline, tmp_path), handle.codec.encode(assistant)
        assert assembled.shape == whole.shape
        assert (assembled == whole).all(axis=0).mean() > 0.99


@pytest.mark.parametrize(
    "voice",
    [Voice("espeak-ng", "en-gb+f3", 1.15, 60), Voice("flite", "kal"), Voice("festival", "kal_diphone")],
)
def test_word_timings_follow_the_speech(voice):
    """Every synthesizer yields one ordered, non-overlapping timing per word, inside the trimmed audio."""
    text = "what is seventeen plus five, repeat after me: lantern"
    speech = speak(text, voice)
    assert [w for w, _, _ in speech.words] == text.split(" ")
    times = [t for _, s, e in speech.words for t in (s, e)]
    assert times == sorted(times) and times[0] < 0.1 and speech.duration - 0.1 < times[-1] <= speech.duration
    long_word = {w: e - s for w, s, e in speech.words}["seventeen"]
    assert long_word > 2 * {w: e - s for w, s, e in speech.words}["is"]


def test_time_and_date_answers_copy_the_spoken_clock_of_the_prefix(tokenizer):
    """The prefix words the clock as the answers speak it: each time or date answer (less "It is" /
    "Today is" and the full stop) is a span of the decoded context line. The older digits wording stays
    available for engines trained on it, and anything else is refused by name."""
    for seed in range(300):
        plan = plan_dialogue(seed, "train", 0.0)
        context = tokenizer.decode(tokenizer.encode_context(plan.clock.context())[1:])
        assert context == plan.clock.context()  # the tokenizer keeps the line intact
        for turn in plan.turns:
            if turn.exchange.skill in ("time", "date"):
                fact = turn.exchange.answer.removeprefix("It is ").removeprefix("Today is ").rstrip(".")
                assert fact in context, (fact, context)
    assert plan.clock.context("digits").startswith(f"current time: {plan.clock.when:%A} ")
    with pytest.raises(ValueError, match="'iso'"):
        plan.clock.context("iso")


def test_cache_keys_do_not_depend_on_how_the_context_is_worded(monkeypatch):
    """A plan's content hash (the codes cache key of 34 h of encoded audio) is unchanged when the clock's
    context wording changes, and a voice without f0_hz is described as before the field existed."""
    plan = plan_dialogue(7, "train", 0.3)
    before = plan.content_hash()
    words = Clock.context

    def reworded(self, style="spoken"):
        return words(self, style).upper() if style == "spoken" else words(self, style)

    monkeypatch.setattr(Clock, "context", reworded)  # a new wording of what synth puts in the prefix
    assert plan.clock.context() != words(plan.clock)
    assert "f0_hz" not in plan.to_json()["voice"]
    assert plan.content_hash() == before
    raised = dataclasses.replace(plan, voice=dataclasses.replace(plan.voice, f0_hz=200))
    assert raised.content_hash() != before


def test_synthesize_dataset_writes_manifest_and_summary(tmp_path):
    """The full entry point writes .npz files, manifest.jsonl and dataset.json with the stream geometry."""
    config = SynthConfig(out=str(tmp_path / "ds"), dialogues=1, jobs=1, cache=str(tmp_path / "cache"))
    lines = synthesize_dataset(config, progress=False)
    summary = json.loads((tmp_path / "ds" / "dataset.json").read_text())
    assert (summary["G"], summary["K"], summary["counts"]["train"] + summary["counts"]["test"]) == (4, 4, 1)
    assert summary["codec_id"] == open_codec("random:full").codec.codes_id
    assert summary["clock_context"] == "spoken"
    manifest = [json.loads(x) for x in (tmp_path / "ds" / "manifest.jsonl").read_text().splitlines()]
    assert manifest == lines and (tmp_path / "ds" / lines[0]["file"]).is_file()


def test_speech_only_fills_the_speech_cache_and_writes_no_dataset(tmp_path):
    """--speech-only synthesizes every utterance (no codec); the full run afterwards synthesizes nothing."""
    cache = tmp_path / "cache"
    config = SynthConfig(out=str(tmp_path / "ds"), dialogues=2, jobs=1, cache=str(cache), speech_only=True)
    assert synthesize_dataset(config, progress=False) == []
    assert not (tmp_path / "ds").exists() or not any((tmp_path / "ds").iterdir())
    cached = sorted(cache.glob("speech/*/*.npz"))
    assert cached
    mtimes = [f.stat().st_mtime_ns for f in cached]
    worker = _Worker(dataclasses.replace(config, speech_only=False), small_codec())
    worker.dialogue(0), worker.dialogue(1)
    assert sorted(cache.glob("speech/*/*.npz")) == cached  # every utterance came from the cache
    assert [f.stat().st_mtime_ns for f in cached] == mtimes


def test_show_prints_turns_and_aligned_streams(dataset, capsys):
    """`hark data show` prints each turn's question and the per-step transcript and monologue."""
    folder, lines, loaded = dataset
    assert main(["data", "show", str(folder / lines[0]["file"])]) == 0
    out = capsys.readouterr().out
    meta = json.loads(str(loaded[0]["meta"]))
    assert meta["turns"][0]["question"] in out and "<eos>" in out
