"""Engine sessions: streaming equals the full forward, batching is invisible, control hooks behave."""

import subprocess
import sys

import numpy as np
import pytest
import shaped_engines
import torch

from audio.provenance import file_sha256
from engine.engine import Engine, SamplingConfig
from engine.model import stream_inputs
from engine.session import RESUME_QUIET_STEPS
from engine.tokenizer import BOS_ID, DEFAULT_PATH, EOS_ID, PAD_ID, TOOL_ID
from engine.weights import DEFAULT_DIR, read_provenance, save_checkpoint

GREEDY = SamplingConfig(audio_temperature=0.0)
CONTEXT = "current time: Monday 23 November 2026, 14:05\nyou are hark"


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.random("tiny", seed=0)


def user_codes(steps: int, batch: int = 1, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 1024, (steps, batch, 4, 4))


def run(engine, session, codes):
    """Step one session through codes [S, 1, K, G] while recording what it generated."""
    outs, text, user_text = [], [], []
    h = session.history
    for c in codes:
        outs.append(engine.step([session], c)[0])
        t = outs[-1].step
        text.append(int(h.text[t % h.size]))
        user_text.append(int(h.user_text[t % h.size]))
    last_cb0 = h.asst[outs[-1].step % h.size].copy()
    chunks = np.stack([o.audio_codes for o in outs[1:]] + [last_cb0])  # [S, K, G] chunk t at index t
    return outs, np.array(text), np.array(user_text), chunks


@torch.no_grad()
def full_predictions(engine, codes, text, user_text, chunks):
    """Greedy predictions of a full forward over the streams: text [S], user_text [S], audio [S, K, G]."""
    cfg = engine.config
    prefix = torch.tensor([engine.tokenizer.encode_context(CONTEXT)[: cfg.max_context]])
    asst = torch.from_numpy(chunks)[None]
    text_in, user_text_in, asst_in = stream_inputs(
        cfg, torch.from_numpy(text)[None], torch.from_numpy(user_text)[None], asst, BOS_ID
    )
    user = torch.from_numpy(codes[:, 0])[None]
    logits, _ = engine.model(prefix, user, text_in, user_text_in, asst_in)
    return logits.text[0].argmax(-1), logits.user_text[0].argmax(-1), logits.audio[0].argmax(-1)


def test_streaming_steps_match_full_forward(engine):
    """Greedy streaming reproduces the argmax of a full forward over the same streams (delays undone)."""
    codes = user_codes(20)
    session = engine.new_session(CONTEXT, GREEDY)
    outs, text, user_text, chunks = run(engine, session, codes)
    p_text, p_user_text, p_audio = full_predictions(engine, codes, text, user_text, chunks)
    assert p_text.tolist() == text.tolist()
    assert p_user_text.tolist() == user_text.tolist()
    for t in range(1, len(codes)):  # step t predicted cb0 of chunk t and cb1..3 of chunk t-1
        assert p_audio[t, 0].tolist() == chunks[t, 0].tolist()
        assert p_audio[t, 1:].tolist() == chunks[t - 1, 1:].tolist()
    assert all(o.audio_codes.shape == (4, 4) and o.audio_codes.dtype == np.int64 for o in outs)


def test_batched_sessions_match_running_alone(engine):
    """Sessions stepped together (joining at different times) produce the same tokens as stepped alone."""
    samplings = [SamplingConfig(seed=1), SamplingConfig(seed=2, text_temperature=1.0, top_p=0.9), GREEDY]
    contexts = ["you are hark", CONTEXT, ""]
    codes = user_codes(12, batch=3, seed=3)
    alone = []
    for i in range(3):
        s = engine.new_session(contexts[i], samplings[i])
        alone.append([engine.step([s], codes[t, i : i + 1])[0] for t in range(12)])
        s.close()
    sessions = [engine.new_session(c, sm) for c, sm in zip(contexts, samplings, strict=True)]
    together: list[list] = [[], [], []]
    for t in range(12 + 4):
        active = [i for i in range(3) if i * 2 <= t < i * 2 + 12]  # session i joins at step 2i
        if t % 2:  # cache rows out of order: the batch gathers its rows instead of viewing a slice
            active.reverse()
        outs = engine.step([sessions[i] for i in active], np.stack([codes[t - 2 * i, i] for i in active]))
        for i, o in zip(active, outs, strict=True):
            together[i].append(o)
    for a, b in zip(alone, together, strict=True):
        assert [o.text_token for o in a] == [o.text_token for o in b]
        assert all(np.array_equal(x.audio_codes, y.audio_codes) for x, y in zip(a, b, strict=True))


def test_silence_forces_silence_until_user_turn_ends():
    """After silence(): PAD text and silence codes, until the user spoke, then paused a while."""
    engine = Engine.random("tiny", seed=1)
    session = engine.new_session(CONTEXT, SamplingConfig(seed=0))
    codes = user_codes(30, seed=4)
    for c in codes[:3]:
        engine.step([session], c)
    session.silence()
    silence = np.array(engine.config.silence_codes)[:, None]
    outs = [engine.step([session], c)[0] for c in codes[3:10]]  # the random model "hears" user tokens
    assert all(o.text_token == PAD_ID and (o.audio_codes == silence).all() for o in outs)
    assert session.stats["muted"] and any(o.user_text_piece for o in outs)
    shaped_engines.says_only_pad(engine.model.user_text_head)  # from now on the transcript is all PAD
    outs = [engine.step([session], c)[0] for c in codes[10 : 10 + RESUME_QUIET_STEPS]]
    assert all(o.text_token == PAD_ID for o in outs) and not session.stats["muted"]
    outs = [engine.step([session], c)[0] for c in codes[10 + RESUME_QUIET_STEPS :]]
    assert any(not (o.audio_codes == silence).all() for o in outs)  # the model speaks again


def test_truncate_leaves_only_heard_audio_in_context(engine):
    """After truncate the next step equals a full forward over the streams cut to the played frames."""
    codes = user_codes(12, seed=5)
    session = engine.new_session(CONTEXT, GREEDY)
    _, text, user_text, chunks = run(engine, session, codes[:11])
    start = session.turn_start_chunk
    assert start is not None and start < 11 - 6
    played = (11 - 5 - start) * 4 + 2  # cut 2 frames into chunk 6 of 11: five steps must be recomputed
    session.truncate(played)
    out = engine.step([session], codes[11])[0]
    cut = start + played // 4
    text[cut:] = PAD_ID
    chunks[cut, :, 2:] = engine.config.silence_codes[0]
    chunks[cut + 1 :] = engine.config.silence_codes[0]
    text = np.append(text, out.text_token)
    user_text = np.append(user_text, session.history.user_text[11 % session.history.size])
    chunks = np.concatenate((chunks, chunks[-1:]))
    chunks[11, 0] = session.history.asst[11 % session.history.size, 0]
    p_text, _, p_audio = full_predictions(engine, codes, text, user_text, chunks)
    assert p_text[11] == out.text_token
    assert p_audio[11, 0].tolist() == chunks[11, 0].tolist()
    assert (out.audio_codes == engine.config.silence_codes[0]).all()  # chunk 10 was after the cut: silent


def test_inject_text_adds_context_and_keeps_bounds(engine):
    """Injected text changes what the model does; overflowing context drops injections, never the original."""
    codes = user_codes(6, seed=6)
    plain = engine.new_session("you are hark", GREEDY)
    injected = engine.new_session("you are hark", GREEDY)
    a = [engine.step([plain], c)[0] for c in codes[:3]]
    b = [engine.step([injected], c)[0] for c in codes[:3]]
    injected.inject_text("the user's name is Ada")
    a += [engine.step([plain], c)[0] for c in codes[3:]]
    b += [engine.step([injected], c)[0] for c in codes[3:]]
    assert [o.text_token for o in a[:3]] == [o.text_token for o in b[:3]]
    assert any(not np.array_equal(x.audio_codes, y.audio_codes) for x, y in zip(a[4:], b[4:], strict=True))
    first = injected.cache.segments[0]
    for i in range(3):
        injected.inject_text(f"fact {i} is long")
        engine.step([injected], codes[0])
    assert injected.cache.segments[0] == first and len(injected.cache.segments) == 2  # older facts dropped
    assert injected.stats["context_slots"] <= engine.config.max_context


def test_reset_starts_the_conversation_over(engine):
    """reset() then the same input replays exactly the same outputs (same seed, original context)."""
    codes = user_codes(5, seed=7)
    session = engine.new_session(CONTEXT, SamplingConfig(seed=9))
    first = [engine.step([session], c)[0] for c in codes]
    session.reset()
    second = [engine.step([session], c)[0] for c in codes]
    assert [o.step for o in second] == list(range(5))
    assert all(np.array_equal(x.audio_codes, y.audio_codes) for x, y in zip(first, second, strict=True))


def test_tool_line_is_parsed_and_does_not_end_the_turn(engine):
    """TOOL_ID ... EOS on the monologue yields a tool_call; the next EOS ends the turn."""
    session = engine.new_session("", GREEDY)
    tok = engine.tokenizer
    line = [TOOL_ID, *tok.encode('timer.set {"seconds": 300}'), EOS_ID, *tok.encode("ok"), EOS_ID]
    audio = np.zeros((4, 4), np.int64)
    outs = [session.finish_step(audio, t, PAD_ID, audio, None) for t in line]
    assert outs[-len(tok.encode("ok")) - 2].tool_call == {"name": "timer.set", "arguments": {"seconds": 300}}
    assert [o.turn_ended for o in outs].count(True) == 1 and outs[-1].turn_ended
    assert all(o.text_piece == "" for o in outs[: -len(tok.encode("ok")) - 1])


def test_bad_user_codes_are_rejected(engine):
    """Wrong shapes or out-of-range codes raise a ValueError that names the expected shape/range."""
    session = engine.new_session()
    with pytest.raises(ValueError, match="shape"):
        engine.step([session], np.zeros((1, 4, 3)))
    with pytest.raises(ValueError, match="1024"):
        engine.step([session], np.full((1, 4, 4), 1024))


def test_checkpoint_round_trip_and_missing_path(engine, tmp_path):
    """A saved checkpoint loads to the same model; a missing one names the path and `hark train engine`."""
    save_checkpoint(
        engine.model,
        tmp_path / "ckpt",
        engine.tokenizer.sp and "assets/engine/tokenizer.model",
        dtype=torch.float32,
    )
    loaded = Engine.load(tmp_path / "ckpt", dtype="float32")
    codes = user_codes(4, seed=8)
    a, b = engine.new_session(CONTEXT, GREEDY), loaded.new_session(CONTEXT, GREEDY)
    for c in codes:
        assert np.array_equal(engine.step([a], c)[0].audio_codes, loaded.step([b], c)[0].audio_codes)
    with pytest.raises(FileNotFoundError, match="hark train engine") as err:
        Engine.load(tmp_path / "nothing")
    assert str(tmp_path / "nothing") in str(err.value)


def test_session_module_does_not_import_the_engine():
    """engine.session stands below engine.engine: importing it loads neither engine.engine nor a cycle."""
    code = "import sys, engine.session; print('engine.engine' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_session_is_stepped_only_by_its_own_engine(engine):
    """A session's cache row lives in its engine's pool, so another engine refuses to step it."""
    other = Engine.random("tiny", seed=1)
    with pytest.raises(ValueError, match="engine that made it"):
        other.step([engine.new_session()], user_codes(1)[0])


def test_checkpoint_records_its_provenance(engine, tmp_path):
    """codec id, clock wording and the tokenizer's hash go into checkpoint.json and come back on load."""
    folder = save_checkpoint(
        engine.model, tmp_path / "ckpt", DEFAULT_PATH, codec_id="abc", clock_context="spoken"
    )
    provenance = read_provenance(folder)
    assert provenance.codec_id == "abc" and provenance.clock_context == "spoken"
    assert provenance.tokenizer_sha256 == file_sha256(DEFAULT_PATH)
    loaded = Engine.load(folder, dtype="float32")
    assert (loaded.codec_id, loaded.clock_context) == ("abc", "spoken")


def test_a_tokenizer_other_than_the_recorded_one_is_refused(engine, tmp_path):
    """Text ids only mean the model's words with its own tokenizer: another file in the folder fails."""
    folder = save_checkpoint(engine.model, tmp_path / "ckpt", DEFAULT_PATH)
    (folder / "tokenizer.model").write_bytes(DEFAULT_PATH.read_bytes() + b"\0")
    with pytest.raises(ValueError, match="not the tokenizer"):
        Engine.load(folder, dtype="float32")


def test_shipped_checkpoint_provenance_reads_unchanged():
    """assets/engine/checkpoint.json (no tokenizer hash yet) gives its codec id and spoken clock."""
    provenance = read_provenance(DEFAULT_DIR)
    assert provenance.codec_id == "21180516c5349dc8" and provenance.clock_context == "spoken"
    assert provenance.tokenizer_sha256 is None
