"""Codec checkpoints: save/load round trips, official-weight discovery, and clear errors for missing files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from audio import codec_checkpoint
from audio.codec import build_codec, load_codec
from audio.codec_checkpoint import OFFICIAL_NAME, save_checkpoint, write_metrics
from audio.codec_config import CodecConfig, config_from_json, config_to_json, official_24khz_config

SMALL = CodecConfig(n_filters=8, lstm_layers=1)


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread keeps the file fast on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def no_default_checkpoints(tmp_path, monkeypatch) -> Path:
    """Point the torch hub cache and assets/codec/ at empty folders; returns the fake TORCH_HOME."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(codec_checkpoint, "DEFAULT_DIR", tmp_path / "assets" / "codec")
    return tmp_path / "torch"


@pytest.fixture
def audio() -> np.ndarray:
    """Half a second of seeded noise, whole frames."""
    return (0.1 * np.random.default_rng(1).standard_normal(37 * 320)).astype(np.float32)


def test_save_load_round_trip(tmp_path, audio):
    """A saved codec loads back (by file, folder or JSON path) and encodes and decodes identically."""
    codec = build_codec(SMALL)
    path = tmp_path / "ckpt" / "codec.safetensors"
    meta = save_checkpoint(codec.model, path, SMALL, {"voices": ["flite:rms"]}, {"wer": 0.25})
    saved = json.loads(path.with_suffix(".json").read_text())
    assert saved == meta and saved["training_data"] == {"voices": ["flite:rms"]}
    assert config_from_json(saved["config"]) == SMALL and len(saved["sha256"]) == 64
    assert saved["codec_id"] == codec.codes_id  # the provenance: whose codes the file makes
    for where in (path, path.parent, path.with_suffix(".json")):
        loaded = load_codec(where)
        assert loaded.checkpoint_sha256 == saved["sha256"]
        np.testing.assert_array_equal(loaded.encode(audio), codec.encode(audio))
        np.testing.assert_array_equal(loaded.decode(codec.encode(audio)), codec.decode(codec.encode(audio)))


def test_float16_checkpoint_is_half_size_and_loads(tmp_path, audio):
    """dtype="float16" halves the file and still gives a working float32 codec."""
    codec = build_codec(SMALL)
    save_checkpoint(codec.model, tmp_path / "a.safetensors", SMALL, "noise")
    save_checkpoint(codec.model, tmp_path / "b.safetensors", SMALL, "noise", dtype="float16")
    ratio = (tmp_path / "b.safetensors").stat().st_size / (tmp_path / "a.safetensors").stat().st_size
    assert 0.45 < ratio < 0.6
    half = load_codec(tmp_path / "b.safetensors")
    out = half.decode(half.encode(audio))
    assert out.dtype == np.float32 and np.isfinite(out).all()


def test_metrics_merge_into_json(tmp_path):
    """write_metrics adds measured numbers to the checkpoint JSON without dropping earlier ones."""
    path = tmp_path / "codec.safetensors"
    save_checkpoint(build_codec(SMALL).model, path, SMALL, "noise", {"wer": 0.3})
    write_metrics(path, {"si_snr_db": 4.5})
    assert json.loads(path.with_suffix(".json").read_text())["metrics"] == {"wer": 0.3, "si_snr_db": 4.5}


def test_corrupt_or_incomplete_checkpoints_are_rejected(tmp_path):
    """A changed weights file fails its checksum; a missing JSON or weights file is named in the error."""
    path = tmp_path / "codec.safetensors"
    save_checkpoint(build_codec(SMALL).model, path, SMALL, "noise")
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="SHA-256"):
        load_codec(path)
    path.with_suffix(".json").unlink()
    with pytest.raises(FileNotFoundError, match="codec.json"):
        load_codec(path)
    with pytest.raises(FileNotFoundError, match="nothing.safetensors"):
        load_codec(tmp_path / "nothing.safetensors")


def test_no_checkpoint_anywhere_says_what_to_run(no_default_checkpoints):
    """load_codec() with nothing on disk names both places it looked and `hark train codec`."""
    with pytest.raises(FileNotFoundError) as err:
        load_codec()
    message = str(err.value)
    assert "assets/codec/codec.safetensors" in message and OFFICIAL_NAME in message
    assert "hark train codec" in message


def test_default_falls_back_to_assets(no_default_checkpoints, audio):
    """Without official weights, load_codec() loads hark's checkpoint from assets/codec/."""
    codec = build_codec(SMALL)
    save_checkpoint(codec.model, codec_checkpoint.default_checkpoint_path(), SMALL, "noise")
    np.testing.assert_array_equal(load_codec().encode(audio), codec.encode(audio))


def _official_state(tmp_path: Path) -> tuple[Path, object]:
    """A random model in the official 24 kHz layout, saved as torch hub would (a .th state dict)."""
    codec = build_codec(official_24khz_config())
    path = tmp_path / "encodec_24khz.th"
    torch.save(codec.model.state_dict(), path)
    return path, codec


def test_official_weights_load_and_are_found_in_hub_cache(tmp_path, no_default_checkpoints, audio):
    """A .th file loads as the official layout; the hub cache copy is found first and checksum-verified."""
    path, codec = _official_state(tmp_path)
    loaded = load_codec(path, kbps=6.0)
    assert loaded.config == official_24khz_config() and loaded.num_codebooks == 8
    np.testing.assert_array_equal(loaded.encode(audio)[:4], codec.encode(audio))
    cached = no_default_checkpoints / "hub" / "checkpoints" / OFFICIAL_NAME
    cached.parent.mkdir(parents=True)
    cached.write_bytes(path.read_bytes())
    # Not Meta's file, so its digest does not start with the d7cc33bc in its name: found, then rejected.
    with pytest.raises(ValueError, match="checksum"):
        load_codec()


def test_config_json_round_trip_and_unknown_keys():
    """Config JSON keys are the field names; unknown keys and bad values are errors naming them."""
    config = CodecConfig(n_filters=16, ratios=[4, 4, 4, 5], bandwidths=[1.5, 3.0])
    assert config_from_json(json.dumps(config_to_json(config))) == config
    with pytest.raises(ValueError, match="n_filterz"):
        config_from_json({"n_filterz": 3})
    with pytest.raises(ValueError, match="pad_mode"):
        CodecConfig(pad_mode="circular")


def test_float16_copy_records_the_codes_of_the_weights_it_stores(tmp_path):
    """A float16 copy's JSON names the codes of its rounded weights, which the loaded codec makes."""
    codec = build_codec(SMALL)
    path = tmp_path / "half.safetensors"
    meta = save_checkpoint(codec.model, path, SMALL, "noise", dtype="float16")
    assert meta["codec_id"] == load_codec(path).codes_id


def test_a_json_naming_other_codes_is_refused(tmp_path):
    """Weights whose codes differ from the JSON's codec_id are stale: loading says so."""
    path = tmp_path / "codec.safetensors"
    save_checkpoint(build_codec(SMALL).model, path, SMALL, "noise")
    meta = json.loads(path.with_suffix(".json").read_text())
    path.with_suffix(".json").write_text(json.dumps({**meta, "codec_id": "0" * 16}))
    with pytest.raises(ValueError, match="its JSON says 0000000000000000"):
        load_codec(path)


def test_shipped_checkpoint_loads_with_the_codes_the_engine_was_trained_on():
    """assets/codec (written before codec_id was recorded) loads unchanged and makes the engine's codes."""
    shipped = json.loads((codec_checkpoint.DEFAULT_DIR / "codec.json").read_text())
    engine_meta = json.loads(
        (Path(codec_checkpoint.DEFAULT_DIR).parent / "engine" / "checkpoint.json").read_text()
    )
    assert "codec_id" not in shipped
    codec = load_codec(codec_checkpoint.default_checkpoint_path())
    assert codec.codes_id == engine_meta["codec_id"]
