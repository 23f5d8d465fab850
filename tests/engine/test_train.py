"""Training on a tiny synthetic dataset in the engine_api.md format: loss falls, runs resume, output loads."""

import json

import numpy as np
import pytest

from engine.dataset import read_manifest, silence_codes
from engine.engine import Engine
from engine.tokenizer import DEFAULT_PATH, EOS_ID, PAD_ID, TextTokenizer
from engine.train import TrainConfig, train_engine

K, G = 4, 4
CODEC_ID = "0123456789abcdef"  # the codec a real dataset.json names; the checkpoint must carry it on


def write_dataset(folder, dialogues: int = 6, steps: int = 24):
    """A learnable toy dataset: the assistant echoes the user's codes one step later and says "ok"."""
    tok = TextTokenizer.load()
    rng = np.random.default_rng(0)
    lines = []
    for i in range(dialogues):
        user = rng.integers(0, 16, (K, steps * G)).astype(np.int16)
        asst = np.roll(user, G, axis=1)
        text = np.full(steps, PAD_ID, np.int32)
        text[5 : 5 + len(tok.encode("ok"))] = tok.encode("ok")
        text[5 + len(tok.encode("ok"))] = EOS_ID
        split = "test" if i == 0 else "train"
        name = f"{split}/{i:06d}.npz"
        (folder / split).mkdir(parents=True, exist_ok=True)
        np.savez(
            folder / name,
            user_codes=user,
            asst_codes=asst,
            text=text,
            user_text=np.zeros(steps, np.int32),
            prefix=np.array(tok.encode_context("current time: 14:05"), np.int32),
            meta=json.dumps({"skill": "toy"}),
        )
        lines.append({"file": name, "split": split, "skill": "toy", "duration": steps * 0.0533})
    (folder / "manifest.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    (folder / "dataset.json").write_text(
        json.dumps(
            {
                "G": G,
                "K": K,
                "tokenizer": str(DEFAULT_PATH),
                "seed": 0,
                "codec_id": CODEC_ID,
                "clock_context": "spoken",
            }
        )
    )


def toy_config(tmp_path, out: str, **settings) -> TrainConfig:
    """The tiny preset on the toy dataset in tmp_path/data, writing the run to tmp_path/out."""
    return TrainConfig(
        data=str(tmp_path / "data"),
        out=str(tmp_path / out),
        preset="tiny",
        batch_size=4,
        crop_steps=16,
        lr=3e-3,
        warmup=5,
        **{"log_every": 5, **settings},
    )


def losses(run, kind):
    return [
        r["loss"]
        for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())
        if r["kind"] == kind
    ]


def test_training_reduces_loss_resumes_and_exports(tmp_path):
    """The tiny preset learns the toy task, a second call resumes, Engine.load reads the result."""
    write_dataset(tmp_path / "data")
    config = toy_config(tmp_path, "run", steps=30, eval_every=15, eval_batches=1, save_every=15)
    folder = train_engine(config)
    train = losses(tmp_path / "run", "train")
    assert train[-1] < 0.7 * train[0]
    state = json.loads((tmp_path / "run" / "state" / "state.json").read_text())
    assert state["step"] == 30
    metrics = json.loads((folder / "checkpoint.json").read_text())["metrics"]
    assert metrics["step"] == metrics["eval_step"] == 30 and metrics["eval_loss"] > 0
    config.steps = 40
    train_engine(config)
    assert json.loads((tmp_path / "run" / "state" / "state.json").read_text())["step"] == 40
    assert len(losses(tmp_path / "run", "train")) == len(train) + 2  # resumed at 30, not restarted
    engine = Engine.load(folder, dtype="float32")
    assert engine.config.text_vocab_size == engine.tokenizer.vocab_size
    assert engine.codec_id == CODEC_ID
    assert engine.clock_context == "spoken"  # the dataset's wording travels with the weights
    meta = json.loads((folder / "checkpoint.json").read_text())
    del meta["clock_context"]  # as in checkpoints written before the field existed
    (folder / "checkpoint.json").write_text(json.dumps(meta))
    assert Engine.load(folder, dtype="float32").clock_context == "digits"
    out = engine.step([engine.new_session("current time: 14:05")], np.zeros((1, K, G), np.int64))
    assert out[0].audio_codes.shape == (K, G)


def test_init_continues_from_a_checkpoint_and_checks_its_codec(tmp_path):
    """`init` starts a new run from trained weights (its first loss is already low); other codecs refuse."""
    write_dataset(tmp_path / "data")
    once = dict(eval_every=100, save_every=100)  # one evaluation and save, at the end
    trained = train_engine(toy_config(tmp_path, "first", steps=40, **once))
    train_engine(toy_config(tmp_path, "second", steps=5, init=str(trained), **once))
    scratch = losses(tmp_path / "first", "train")
    assert losses(tmp_path / "second", "train")[0] < 0.8 * scratch[0]

    info = json.loads((tmp_path / "data" / "dataset.json").read_text())
    (tmp_path / "data" / "dataset.json").write_text(json.dumps({**info, "codec_id": "ffffffffffffffff"}))
    with pytest.raises(ValueError, match="other codec tokens"):
        train_engine(toy_config(tmp_path, "third", steps=5, init=str(trained), **once))


def test_dialogue_stage_mixes_in_text_batches_from_text_stage_weights(tmp_path):
    """From text-stage weights, the dialogue stage takes the dataset's silence codes, trains a third of its
    steps on text-only batches, and evaluates both kinds of data and the text skills."""
    text_run = train_engine(
        TrainConfig(
            stage="text",
            out=str(tmp_path / "text"),
            preset="tiny",
            steps=3,
            batch_size=2,
            crop_steps=16,
            warmup=1,
            eval_every=100,
            save_every=100,
            text_eval_dialogues=0,
        )  # fmt: skip
    )
    write_dataset(tmp_path / "data")
    config = toy_config(
        tmp_path, "mixed", steps=9, init=str(text_run), text_fraction=1 / 3, log_every=1, eval_every=9,
        eval_batches=1, save_every=9, text_eval_dialogues=2,
    )  # fmt: skip
    folder = train_engine(config)
    kinds = [
        json.loads(line)["kind"] for line in (tmp_path / "mixed" / "metrics.jsonl").read_text().splitlines()
    ]
    assert kinds.count("train_text") == 3 and kinds.count("train") == 6
    assert {"eval", "eval_text", "text_accuracy"} <= set(kinds)
    engine = Engine.load(folder, dtype="float32")
    assert engine.codec_id == CODEC_ID
    data = tmp_path / "data"
    assert engine.config.silence_codes == silence_codes(data, read_manifest(data, "train"), K)
