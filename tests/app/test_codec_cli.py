"""`hark codec encode|decode|roundtrip` and `hark bench codec`, run in-process on real WAV files."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from app.cli import main
from audio.codec import build_codec, load_codec
from audio.codec_checkpoint import save_checkpoint
from audio.codec_config import CodecConfig
from audio.resample import resample
from audio.wavio import read_wav


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A small random codec saved as a hark checkpoint folder."""
    folder = tmp_path_factory.mktemp("codec")
    config = CodecConfig(n_filters=8)
    save_checkpoint(build_codec(config).model, folder / "codec.safetensors", config, "random weights (test)")
    return folder


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> Path:
    """espeak-ng's own 22.05 kHz WAV output, so the commands must resample it."""
    path = tmp_path_factory.mktemp("wav") / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(path), "set a timer for five minutes"], check=True)
    return path


def test_encode_then_decode(tmp_path, checkpoint, speech, capsys):
    """encode writes int codes at the asked bitrate; decode restores a 24 kHz WAV of the input's length."""
    wav, rate = read_wav(speech)
    assert rate == 22050
    npz, out = tmp_path / "codes.npz", tmp_path / "out.wav"
    assert main(["codec", "encode", str(speech), str(npz), "--codec", str(checkpoint), "--kbps", "1.5"]) == 0
    with np.load(npz) as data:
        codes, num_samples = data["codes"], int(data["num_samples"])
        assert str(data["codes_id"]) == load_codec(checkpoint).codes_id
    expected = round(len(wav) * 24000 / 22050)
    assert codes.shape == (2, -(-expected // 320)) and abs(num_samples - expected) <= 1
    assert main(["codec", "decode", str(npz), str(out), "--codec", str(checkpoint)]) == 0
    decoded, out_rate = read_wav(out)
    assert out_rate == 24000 and len(decoded) == num_samples
    assert "2 codebooks" in capsys.readouterr().out


def test_roundtrip_streams_like_one_shot(tmp_path, checkpoint, speech):
    """roundtrip (streamed in 4-frame chunks) writes what one-shot encode + decode would produce."""
    out = tmp_path / "rt.wav"
    assert main(["codec", "roundtrip", str(speech), str(out), "--codec", str(checkpoint)]) == 0
    streamed, _ = read_wav(out)
    codec = load_codec(checkpoint)
    wav = resample(read_wav(speech)[0], 22050, 24000)
    padded = np.pad(wav, (0, -len(wav) % 320))
    expected = np.clip(codec.decode(codec.encode(padded))[: len(wav)], -1, 1)
    np.testing.assert_allclose(streamed, expected, atol=1.5 / 32767)


def test_export_halves_the_checkpoint_and_keeps_its_metadata(tmp_path, checkpoint, speech, capsys):
    """export to float16 writes a loadable copy about half the size, with the same metadata, that decodes
    codes to the same audio up to float16 rounding."""
    source = checkpoint / "codec.safetensors"
    out = tmp_path / "half.safetensors"
    assert main(["codec", "export", str(source), str(out)]) == 0
    assert out.stat().st_size < 0.6 * source.stat().st_size
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["dtype"] == "float16"
    assert meta["training_data"] == json.loads(source.with_suffix(".json").read_text())["training_data"]
    full, half = load_codec(source), load_codec(out)
    wav = np.pad(resample(read_wav(speech)[0], 22050, 24000), (0, 320))[: 320 * 100]
    codes = full.encode(wav)
    reference, rounded = full.decode(codes), half.decode(codes)
    snr = 10 * np.log10(np.sum(reference**2) / np.sum((reference - rounded) ** 2))
    assert snr > 30
    assert main(["codec", "export", str(tmp_path / "nope.safetensors"), str(out)]) == 1
    assert "nope.safetensors" in capsys.readouterr().err


def test_missing_files_are_one_line_errors(tmp_path, checkpoint, speech, capsys):
    """A missing input, a missing checkpoint or a non-npz input exits 1 with a message, not a traceback."""
    assert (
        main(
            [
                "codec",
                "encode",
                str(tmp_path / "nope.wav"),
                str(tmp_path / "x.npz"),
                "--codec",
                str(checkpoint),
            ]
        )
        == 1
    )
    assert "nope.wav: no such file" in capsys.readouterr().err
    assert (
        main(["codec", "roundtrip", str(speech), str(tmp_path / "o.wav"), "--codec", str(tmp_path / "none")])
        == 1
    )
    assert "hark train codec" in capsys.readouterr().err
    assert main(["codec", "decode", str(speech), str(tmp_path / "o.wav"), "--codec", str(checkpoint)]) == 1
    assert "hark codec encode" in capsys.readouterr().err


def test_bench_codec_writes_json(tmp_path, capsys):
    """`hark bench codec` times each chunk size and writes p50/p95 and the real-time factor as JSON."""
    out = tmp_path / "bench.json"
    args = ["bench", "codec", "--random", "--threads", "1", "--chunks", "1", "4", "--seconds", "0.3"]
    assert main([*args, "--warmup", "1", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert [r["chunk_frames"] for r in report["results"]] == [1, 4]
    for result in report["results"]:
        assert result["calls"] >= 2 and 0 < result["total_ms"]["p50"] <= result["total_ms"]["p95"]
        assert result["rtf_p50"] == pytest.approx(result["total_ms"]["p50"] / result["chunk_ms"], rel=1e-2)
    assert report["codec"]["num_codebooks"] == 4 and report["machine"]["threads"] == 1
    assert "RTF" in capsys.readouterr().out
