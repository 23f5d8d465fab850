"""Provenance of a checkpoint: whose codes it reads or makes, how its clock was worded, which tokenizer.

Both checkpoint kinds carry it in their JSON, as top-level keys equal to the field names (absent when
unknown): a codec's `codec.json` names the codes its weights make (`codec_id`); an engine's
`checkpoint.json` names the codes it was trained on, the wording of the clock line in its training
context and, since it was first written, the hash of its tokenizer. Checkpoints from before a field
existed load with that field None; each loader says what None means for it.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Provenance:
    """Where a checkpoint's tokens come from (field names equal the JSON keys).

    Attributes:
        codec_id: the `codes_id` of the codec whose codes the checkpoint makes (a codec) or was trained on
            (an engine).
        clock_context: how the training data worded the clock line ("spoken" or "digits",
            `engine.data.clock.Clock.context`).
        tokenizer_sha256: SHA-256 of the SentencePiece model the text tokens come from.
    """

    codec_id: str | None = None
    clock_context: str | None = None
    tokenizer_sha256: str | None = None

    def to_json(self) -> dict[str, str]:
        """The known fields, for merging into a checkpoint's JSON object."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    @classmethod
    def from_json(cls, meta: Mapping[str, Any], source: str = "checkpoint JSON") -> Provenance:
        """Read the provenance keys of a checkpoint's JSON object (other keys are left alone).

        Raises:
            ValueError: a provenance key holds something other than a string, naming `source`.
        """
        values = {}
        for f in dataclasses.fields(cls):
            value = meta.get(f.name)
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{source}: {f.name} must be a string, got {value!r}")
            values[f.name] = value
        return cls(**values)


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
