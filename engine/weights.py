"""Engine checkpoints on disk: a folder with config.json (ModelConfig fields), model.safetensors,
tokenizer.model and checkpoint.json (checksum, parameter counts, metrics and the `Provenance` keys:
the codec whose codes the model learned, the clock wording and the tokenizer's hash).

Weights are stored in bf16 by default (half the size; the CPU runs bf16 natively) and cast on load.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from audio.provenance import Provenance, file_sha256
from engine.model import ModelConfig, OmniModel

DEFAULT_DIR = Path(__file__).resolve().parent.parent / "assets" / "engine"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
TOKENIZER_FILE = "tokenizer.model"
META_FILE = "checkpoint.json"


def read_config(path: str | Path) -> ModelConfig:
    """Read a ModelConfig from `path`/config.json, naming the file and key on bad input."""
    file = Path(path) / CONFIG_FILE
    if not file.is_file():
        raise FileNotFoundError(
            f"no engine checkpoint at {Path(path)} (missing {file}); create one with `hark train engine`"
        )
    data = json.loads(file.read_text())
    known = {f.name for f in dataclasses.fields(ModelConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{file}: unknown config keys {unknown}; expected a subset of {sorted(known)}")
    return ModelConfig(**data)


def save_checkpoint(
    model: OmniModel,
    path: str | Path,
    tokenizer_file: str | Path | None = None,
    dtype: torch.dtype = torch.bfloat16,
    metrics: dict | None = None,
    codec_id: str | None = None,
    clock_context: str | None = None,
) -> Path:
    """Write `model` as an engine checkpoint folder; returns the folder.

    Args:
        model: the model; its config goes to config.json.
        path: the folder (made if missing).
        tokenizer_file: the SentencePiece model to copy in beside it (None: none is copied); its hash is
            recorded, as is that of a tokenizer already in the folder.
        dtype: the weights' dtype on disk.
        metrics: measured numbers for checkpoint.json.
        codec_id: the codec whose codes the model was trained on (dataset.json's `codec_id`): the model
            only understands that codec's tokens, so loaders check it against the codec they run.
        clock_context: how its training data worded the clock (dataset.json's; see `Clock.context`).
    """
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    (out / CONFIG_FILE).write_text(json.dumps(model.config.to_dict(), indent=2) + "\n")
    tensors = {name: p.detach().to(dtype).contiguous() for name, p in model.state_dict().items()}
    save_file(tensors, str(out / WEIGHTS_FILE))
    if tokenizer_file is not None and Path(tokenizer_file).resolve() != (out / TOKENIZER_FILE).resolve():
        shutil.copyfile(tokenizer_file, out / TOKENIZER_FILE)
    total, active = model.num_parameters()
    tokenizer = out / TOKENIZER_FILE
    provenance = Provenance(
        codec_id=codec_id or None,
        clock_context=clock_context or None,
        tokenizer_sha256=file_sha256(tokenizer) if tokenizer.is_file() else None,
    )
    meta = {
        "sha256": file_sha256(out / WEIGHTS_FILE),
        "total_params": total,
        "active_params": active,
        "metrics": metrics or {},
        **provenance.to_json(),
    }
    (out / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    return out


def read_meta(path: str | Path) -> dict:
    """The checkpoint's checkpoint.json ({} when the folder has none)."""
    file = Path(path) / META_FILE
    return json.loads(file.read_text()) if file.is_file() else {}


def read_provenance(path: str | Path) -> Provenance:
    """The provenance keys of the checkpoint's checkpoint.json (all None when it has none)."""
    return Provenance.from_json(read_meta(path), str(Path(path) / META_FILE))


def check_tokenizer(path: str | Path, tokenizer_file: Path) -> None:
    """Raise ValueError if checkpoint.json records a tokenizer hash that `tokenizer_file` does not have:
    the text ids would mean other words than the model learned. Older checkpoints record none."""
    recorded = read_provenance(path).tokenizer_sha256
    if recorded is not None and file_sha256(tokenizer_file) != recorded:
        raise ValueError(
            f"{tokenizer_file} is not the tokenizer {Path(path)} was trained with (sha256 {recorded[:12]}…)"
        )


def write_metrics(path: str | Path, metrics: dict) -> None:
    """Merge `metrics` into the checkpoint.json of the engine checkpoint folder `path`."""
    file = Path(path) / META_FILE
    if not file.is_file():
        raise FileNotFoundError(f"{file} not found; is {Path(path)} an engine checkpoint folder?")
    meta = read_meta(path)
    meta["metrics"] = {**meta.get("metrics", {}), **metrics}
    file.write_text(json.dumps(meta, indent=2) + "\n")


def load_model(path: str | Path, dtype: torch.dtype = torch.float32, device: str = "cpu") -> OmniModel:
    """Rebuild the model from a checkpoint folder, weights cast to `dtype`, in eval mode."""
    cfg = read_config(path)
    file = Path(path) / WEIGHTS_FILE
    if not file.is_file():
        raise FileNotFoundError(f"{file} not found; create an engine checkpoint with `hark train engine`")
    model = OmniModel(cfg)
    state = load_file(str(file), device=device)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f"{file} does not match {CONFIG_FILE}: missing {missing}, unexpected {unexpected}")
    return model.to(device=device, dtype=dtype).eval()
