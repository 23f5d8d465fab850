"""Codec checkpoints on disk: hark's own (safetensors + JSON) and Meta's official `encodec_24khz` weights.

A hark checkpoint is two files side by side:

* `codec.safetensors`: the `encodec` model's state dict (optionally stored as float16),
* `codec.json`: `{"format", "config", "training_data", "metrics", "dtype", "sha256", "codec_id"}` where
  `config` is `CodecConfig`'s JSON (field names as keys), `sha256` the digest of the safetensors file and
  `codec_id` the `codes_id` of the weights as stored (audio/provenance.py; checkpoints written before it
  have none).

`codes_id` is taken here, from a state dict, so that the codec loaded from a file and the JSON written
beside it agree (a float16 copy makes slightly different codes, so it has an id of its own).

Official weights (`encodec_24khz-d7cc33bc.th`, a torch state dict) are used only when already on disk, in
the torch hub cache or at a given path. Nothing is ever downloaded.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from audio.codec_config import (
    CodecConfig,
    build_model,
    config_from_json,
    config_to_json,
    official_24khz_config,
)
from audio.encodec_compat import encodec
from audio.provenance import Provenance, file_sha256

log = logging.getLogger(__name__)

FORMAT = "hark-codec/1"
CHECKPOINT_NAME = "codec.safetensors"
DEFAULT_DIR = Path(__file__).resolve().parent.parent / "assets" / "codec"
OFFICIAL_NAME = "encodec_24khz-d7cc33bc.th"
DTYPES = {"float32": torch.float32, "float16": torch.float16}
TRAIN_HINT = "train one with `hark train codec`, or pass --codec PATH"
CODES_ID_CHARS = 16  # hex digits of the codes digest that name a codec's codes


def official_weights_path() -> Path:
    """Where torch hub caches the official 24 kHz weights (honours $TORCH_HOME)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / OFFICIAL_NAME


def default_checkpoint_path() -> Path:
    """hark's shipped codec checkpoint (assets/codec/codec.safetensors)."""
    return DEFAULT_DIR / CHECKPOINT_NAME


def codes_id(state: Mapping[str, torch.Tensor]) -> str:
    """Name of the codes a codec's weights make: a sha256 prefix of what decides them, the encoder's
    weights and the codebooks. The decoder is left out, so it can keep training (`hark train codec
    --freeze-encoder`) without invalidating encoded data."""
    digest = hashlib.sha256()
    for name, tensor in sorted(state.items()):
        if name.startswith("encoder.") or name.endswith("._codebook.embed"):
            digest.update(name.encode())
            digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:CODES_ID_CHARS]


def save_checkpoint(
    model: encodec.EncodecModel,
    path: str | Path,
    config: CodecConfig,
    training_data: str | dict[str, Any],
    metrics: dict[str, Any] | None = None,
    dtype: str = "float32",
) -> dict[str, Any]:
    """Write `path` (.safetensors) and its JSON sidecar; returns the JSON written.

    Args:
        model: the codec model (its whole state dict is saved, so training can resume from it).
        path: the safetensors file to write; the JSON goes next to it with the suffix `.json`.
        config: the configuration the model was built with.
        training_data: what the codec was trained on (voices, hours, augmentation), for people.
        metrics: measured quality (e.g. WER, mel distance, SI-SNR); `write_metrics` can add more later.
        dtype: "float32", or "float16" to halve the file (floating tensors only; loading casts back).
    """
    path = Path(path)
    if dtype not in DTYPES:
        raise ValueError(f"checkpoint dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
    tensors = {}
    for name, tensor in model.state_dict().items():
        tensor = tensor.detach().cpu().contiguous()
        tensors[name] = tensor.to(DTYPES[dtype]) if tensor.is_floating_point() else tensor
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path))
    meta = {
        "format": FORMAT,
        "config": config_to_json(config),
        "training_data": training_data,
        "metrics": metrics or {},
        "dtype": dtype,
        "sha256": file_sha256(path),
        **Provenance(codec_id=codes_id(tensors)).to_json(),
    }
    path.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def write_metrics(path: str | Path, metrics: dict[str, Any]) -> None:
    """Merge `metrics` into the JSON sidecar of the checkpoint at `path` (.safetensors or .json)."""
    json_path = Path(path).with_suffix(".json")
    meta = read_meta(json_path)
    meta["metrics"] = {**meta.get("metrics", {}), **metrics}
    json_path.write_text(json.dumps(meta, indent=2) + "\n")


def read_meta(json_path: Path) -> dict[str, Any]:
    """The JSON sidecar of a checkpoint, checked for its format."""
    if not json_path.exists():
        raise FileNotFoundError(
            f"codec checkpoint config {json_path} is missing; it must sit next to the weights"
        )
    try:
        meta = json.loads(json_path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{json_path}: not valid JSON ({e})") from e
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or "config" not in meta:
        raise ValueError(f"{json_path}: not a hark codec checkpoint config (expected format {FORMAT!r})")
    return meta


def load_checkpoint(path: str | Path) -> tuple[encodec.EncodecModel, CodecConfig, dict[str, Any]]:
    """Load a hark checkpoint written by `save_checkpoint`; returns (model in eval mode, config, JSON).

    Raises:
        FileNotFoundError: a file is missing. ValueError: the digest, the config or the recorded
            `codec_id` does not match the weights.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"codec checkpoint {path} does not exist; {TRAIN_HINT}")
    meta = read_meta(path.with_suffix(".json"))
    digest = file_sha256(path)
    if digest != meta.get("sha256"):
        raise ValueError(
            f"{path}: SHA-256 {digest[:12]}… does not match its JSON; the file is corrupt or stale"
        )
    config = config_from_json(meta["config"])
    model = build_model(config)
    state = {name: t.float() if t.is_floating_point() else t for name, t in load_file(str(path)).items()}
    recorded = Provenance.from_json(meta, str(path.with_suffix(".json"))).codec_id
    if recorded is not None and recorded != codes_id(state):
        raise ValueError(f"{path}: its weights make codes {codes_id(state)}, its JSON says {recorded}")
    _load_state(model, state, path)
    return model.eval(), config, meta


def load_official(path: str | Path) -> tuple[encodec.EncodecModel, CodecConfig, str]:
    """Load Meta's `encodec_24khz` weights from a `.th` file; returns (model, config, sha256).

    A file name carrying a checksum (`encodec_24khz-<8 hex>.th`, as torch hub stores it) is verified.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"official EnCodec weights {path} do not exist; {TRAIN_HINT}")
    digest = file_sha256(path)
    expected = re.fullmatch(r".*-([0-9a-f]{8})", path.stem)
    if expected and not digest.startswith(expected.group(1)):
        raise ValueError(
            f"{path}: checksum {digest[:8]} does not match its name; delete it and fetch it again"
        )
    config = official_24khz_config()
    model = build_model(config)
    _load_state(model, torch.load(path, map_location="cpu", weights_only=True), path)
    return model.eval(), config, digest


def _load_state(model: torch.nn.Module, state: dict[str, torch.Tensor], path: Path) -> None:
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise ValueError(f"{path}: weights do not fit the codec architecture in its config: {e}") from e


def load_model(path: str | Path | None = None) -> tuple[encodec.EncodecModel, CodecConfig, str]:
    """Find and load codec weights; returns (model, config, sha256 of the weights file).

    Args:
        path: a `.safetensors` checkpoint (or its `.json`, or their folder) or an official `.th` file.
            None: the official weights in the torch hub cache if present, else `default_checkpoint_path()`.

    Raises:
        FileNotFoundError: naming the paths looked at and how to make a checkpoint.
    """
    if path is None:
        official, ours = official_weights_path(), default_checkpoint_path()
        if official.exists():
            log.info("using official EnCodec weights from %s", official)
            return load_official(official)
        if not ours.exists():
            raise FileNotFoundError(
                f"no codec checkpoint: {ours} does not exist and there are no official weights at "
                f"{official}; {TRAIN_HINT}"
            )
        path = ours
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if path.suffix == ".th":
        return load_official(path)
    model, config, meta = load_checkpoint(path.with_suffix(".safetensors"))
    return model, config, meta["sha256"]
