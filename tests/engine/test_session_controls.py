"""Engine session controls the service relies on: start_turn, silence ending the turn, truncate_at, keyed
context injection."""

import dataclasses

import numpy as np
import pytest
import shaped_engines
import torch

from engine.engine import Engine, SamplingConfig
from engine.model import OmniModel
from engine.tokenizer import PAD_ID, SPECIAL_IDS, TextTokenizer

GREEDY = SamplingConfig(audio_temperature=0.0)


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.random("tiny", seed=0)


@pytest.fixture
def quiet_engine() -> Engine:
    return shaped_engines.quiet_engine(seed=2)


def user_codes(steps: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 1024, (steps, 1, 4, 4))


def test_start_turn_makes_a_silent_engine_speak_at_the_next_step(quiet_engine):
    """start_turn(): the next monologue token is a word (not PAD/EOS/special) and the step says speaking."""
    session = quiet_engine.new_session("you are hark", GREEDY)
    codes = user_codes(6)
    before = [quiet_engine.step([session], c)[0] for c in codes[:3]]
    assert all(o.text_token == PAD_ID and not o.speaking for o in before)
    session.start_turn()
    out = quiet_engine.step([session], codes[3])[0]
    assert out.text_token not in SPECIAL_IDS and out.speaking
    assert session.turn_start_chunk == out.step + 1
    after = [quiet_engine.step([session], c)[0] for c in codes[4:]]
    assert all(o.text_token == PAD_ID for o in after)  # forced once: then the model is free again


def test_start_turn_lifts_a_mute(quiet_engine):
    """A muted session told start_turn() speaks at once instead of waiting for the user's turn to end."""
    session = quiet_engine.new_session("", GREEDY)
    codes = user_codes(3, seed=1)
    session.silence()
    assert quiet_engine.step([session], codes[0])[0].text_token == PAD_ID and session.stats["muted"]
    session.start_turn()
    out = quiet_engine.step([session], codes[1])[0]
    assert out.speaking and out.text_token not in SPECIAL_IDS and not session.stats["muted"]


def test_user_turn_ended_lifts_a_mute_the_transcript_never_would(quiet_engine):
    """A model that transcribes nothing stays muted after silence() however long the user pauses;
    user_turn_ended() (the service's VAD) lifts the mute without forcing a word: the model decides."""
    for engine, speaks in ((shaped_engines.deaf_engine(seed=0), True), (quiet_engine, False)):
        session = engine.new_session("", GREEDY)
        codes = user_codes(14, seed=6)
        session.silence()
        muted = [engine.step([session], c)[0] for c in codes[:8]]
        assert not any(o.speaking for o in muted) and session.stats["muted"]
        session.user_turn_ended()
        free = [engine.step([session], c)[0] for c in codes[8:]]
        assert not session.stats["muted"]
        assert any(o.speaking for o in free) == speaks


def test_start_turn_leaves_batch_neighbours_alone(quiet_engine):
    """Only the session told start_turn() is forced; its batch neighbour stays silent."""
    a, b = quiet_engine.new_session("", GREEDY), quiet_engine.new_session("", GREEDY)
    a.start_turn()
    out_a, out_b = quiet_engine.step([a, b], np.concatenate(list(user_codes(2, seed=2))))
    assert out_a.speaking and not out_b.speaking and out_b.text_token == PAD_ID


def test_silence_ends_the_turn_at_the_next_step(engine):
    """After silence() the session stops `speaking` at the very next step (no truncate needed)."""
    session = engine.new_session("you are hark", SamplingConfig(seed=0))
    codes = user_codes(8, seed=3)
    outs = [engine.step([session], c)[0] for c in codes[:4]]
    assert outs[-1].speaking and session.in_turn  # the untrained model talks from the start
    session.silence()
    outs = [engine.step([session], c)[0] for c in codes[4:]]
    assert not any(o.speaking or o.turn_ended for o in outs) and not session.in_turn


def test_truncate_at_equals_truncate_counted_from_the_turn_start(engine):
    """truncate_at(chunk, frame) with StepOutput chunk indices cuts exactly where truncate(played) does."""
    codes = user_codes(12, seed=5)
    a, b = engine.new_session("", GREEDY), engine.new_session("", GREEDY)
    outs = [engine.step([a], c)[0] for c in codes[:10]]
    for c in codes[:10]:
        engine.step([b], c)
    start = a.turn_start_chunk
    first = next(o for o in outs if o.chunk == start + 2)  # a client played 2 chunks and 3 frames of it
    a.truncate((first.chunk - start) * 4 + 3)
    b.truncate_at(first.chunk, 3)
    out_a, out_b = engine.step([a], codes[10])[0], engine.step([b], codes[10])[0]
    assert out_a.text_token == out_b.text_token and np.array_equal(out_a.audio_codes, out_b.audio_codes)
    assert np.array_equal(a.history.asst, b.history.asst) and np.array_equal(a.history.text, b.history.text)
    silence = engine.config.silence_codes[0]
    h = b.history
    assert (h.asst[(first.chunk + 1) % h.size] == silence).all()  # after the cut: silence
    assert (h.asst[first.chunk % h.size, :, 3:] == silence).all()
    assert not (h.asst[first.chunk % h.size, :, :3] == silence).all()  # the played frames stay
    assert all(h.text[s % h.size] == PAD_ID for s in range(first.chunk, 10))


def test_keyed_injection_replaces_the_earlier_text():
    """inject_text(key=...) drops the text last injected under that key: the context cache then equals a
    session that only ever got the newest text."""
    tokenizer = TextTokenizer.load()
    cfg = dataclasses.replace(Engine.random("tiny").config, max_context=48)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        engine = Engine(OmniModel(cfg), tokenizer)
    codes = user_codes(3, seed=6)
    a, b = engine.new_session("you are hark", GREEDY), engine.new_session("you are hark", GREEDY)
    a.inject_text("current time: 14:05", key="clock")
    a.inject_text("the user is Ada")
    engine.step([a], codes[0])
    a.inject_text("current time: 14:06", key="clock")
    engine.step([a], codes[1])
    b.inject_text("the user is Ada")
    b.inject_text("current time: 14:06", key="clock")
    engine.step([b], codes[0])
    assert [s.key for s in a.cache.segments] == [s.key for s in b.cache.segments] == [None, None, "clock"]
    assert a.cache.n_context == b.cache.n_context
    n = a.cache.n_context
    for k in engine.cache.k:
        torch.testing.assert_close(k[a.cache.row, :, :n], k[b.cache.row, :, :n])
