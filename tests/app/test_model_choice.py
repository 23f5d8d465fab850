"""A trained engine refuses a codec whose codes it never learned; `--codec` choices fail in one line."""

import pytest
import torch

from app.runtime import HarkError, load_codec, load_engine
from audio.codec_checkpoint import save_checkpoint
from audio.codec_config import CodecConfig, build_model
from engine.engine import Engine


@pytest.fixture(scope="module")
def saved_codec(tmp_path_factory):
    """A small codec checkpoint on disk, loaded back as `--codec PATH` does (so it has a sha256)."""
    path = tmp_path_factory.mktemp("codec") / "codec.safetensors"
    config = CodecConfig(n_filters=4, lstm_layers=0)
    save_checkpoint(build_model(config), path, config, "test")
    return load_codec(str(path), 3.0)


def test_engine_refuses_a_codec_it_was_not_trained_on(saved_codec):
    engine = Engine.random("tiny")
    engine.codec_id = "0" * 16
    with pytest.raises(ValueError, match="trained on the codes of codec 0000000000000000"):
        engine.check_codec(saved_codec.codes_id)
    engine.codec_id = saved_codec.codes_id
    with pytest.raises(ValueError):
        engine.check_codec(load_codec("random", 3.0).codes_id)


def test_engine_accepts_its_own_codec_and_untrained_engines_any(saved_codec):
    engine = Engine.random("tiny")
    engine.check_codec(saved_codec.codes_id)  # untrained engine: no codec id
    engine.codec_id = saved_codec.codes_id
    engine.check_codec(saved_codec.codes_id)


def test_missing_codec_checkpoint_names_the_file(tmp_path):
    with pytest.raises(HarkError, match=str(tmp_path / "nope.safetensors")):
        load_codec(str(tmp_path / "nope.safetensors"), 3.0)


def test_random_codec_spellings_name_one_codec():
    """`random` is `random:tiny` (8 filters, no LSTM, seeded); `random:full` has the default architecture."""
    tiny = load_codec("random:tiny", 3.0)
    assert load_codec("random", 3.0).codes_id == tiny.codes_id
    assert (tiny.config.n_filters, tiny.config.lstm_layers) == (8, 0)
    assert load_codec("random:full", 3.0).config == CodecConfig()


def test_bad_specs_fail_in_one_line():
    """An unknown preset or `random:` alone becomes a HarkError naming the choices."""
    with pytest.raises(HarkError, match="full"):
        load_codec("random:huge", 3.0)
    with pytest.raises(HarkError, match="preset"):
        load_engine("random:huge")
    with pytest.raises(HarkError, match="random:PRESET"):
        load_engine("random:")


def test_random_engine_alias_is_the_tiny_preset():
    """`--engine random` builds what `--engine random:tiny` builds (same seeded weights)."""
    a, b = load_engine("random"), load_engine("random:tiny")
    assert a.config == b.config
    assert all(torch.equal(x, y) for x, y in zip(a.model.parameters(), b.model.parameters(), strict=True))
