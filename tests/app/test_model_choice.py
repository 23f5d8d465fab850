"""A trained engine refuses a codec whose codes it never learned; `--codec` choices fail in one line."""

import pytest

from app.cli import HarkError
from app.commands.serve import load_codec_choice
from audio.codec_checkpoint import save_checkpoint
from audio.codec_config import CodecConfig, build_model
from engine.engine import Engine


@pytest.fixture(scope="module")
def saved_codec(tmp_path_factory):
    """A small codec checkpoint on disk, loaded back as `--codec PATH` does (so it has a sha256)."""
    path = tmp_path_factory.mktemp("codec") / "codec.safetensors"
    config = CodecConfig(n_filters=4, lstm_layers=0)
    save_checkpoint(path, build_model(config), config, "test")
    return load_codec_choice(str(path), 3.0)


def test_engine_refuses_a_codec_it_was_not_trained_on(saved_codec):
    engine = Engine.random("tiny")
    engine.codec_id = "0" * 16
    with pytest.raises(ValueError, match="trained on the codes of codec 0000000000000000"):
        engine.check_codec(saved_codec.codes_id)
    engine.codec_id = saved_codec.codes_id
    with pytest.raises(ValueError):
        engine.check_codec(load_codec_choice("random", 3.0).codes_id)


def test_engine_accepts_its_own_codec_and_untrained_engines_any(saved_codec):
    engine = Engine.random("tiny")
    engine.check_codec(saved_codec.codes_id)  # untrained engine: no codec id
    engine.codec_id = saved_codec.codes_id
    engine.check_codec(saved_codec.codes_id)


def test_missing_codec_checkpoint_names_the_file(tmp_path):
    with pytest.raises(HarkError, match=str(tmp_path / "nope.safetensors")):
        load_codec_choice(str(tmp_path / "nope.safetensors"), 3.0)
