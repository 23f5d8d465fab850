"""The one syntax that names a model (engine or codec) on every hark command line.

    default          the shipped checkpoint: assets/engine/ for the engine; for the codec,
                     `audio.codec.load_codec`'s search (official weights if cached, else assets/codec/)
    random:PRESET    untrained, seeded weights at a size preset (the engine's: tiny, cpu, gpu, from
                     engine/model.py; the codec's: tiny, full, `CODEC_PRESETS` in app/runtime.py); for
                     tests, demos and benchmarks before weights ship
    anything else    a checkpoint path (write `./default` for a folder that is really called so)

Older spellings are aliases, so existing flags keep working: an empty or missing value means `default`,
and a bare `random` means `random:tiny` (the engine's smallest preset; for the codec, the 8-filter one
`hark serve --codec random` has always built).
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT = "default"
RANDOM = "random"
PATH = "path"
DEFAULT_RANDOM_PRESET = "tiny"  # what a bare `random` stands for

ENGINE_SPEC_HELP = "engine: default (the shipped one), a checkpoint folder, or random:PRESET (untrained)"
CODEC_SPEC_HELP = "codec: default (the shipped one), a checkpoint file or folder, or random:PRESET"


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model spec.

    Attributes:
        kind: DEFAULT, RANDOM or PATH.
        value: the preset (RANDOM), the path (PATH), or "" (DEFAULT).
    """

    kind: str
    value: str = ""

    def __str__(self) -> str:
        """The canonical spelling (`default`, `random:tiny`, or the path)."""
        if self.kind == RANDOM:
            return f"{RANDOM}:{self.value}"
        return self.value if self.kind == PATH else DEFAULT


def parse_spec(text: str | None) -> ModelSpec:
    """`default` / `random:PRESET` / a path (and the aliases "", None, `random`) -> ModelSpec.

    Raises:
        ValueError: `random:` with no preset.
    """
    if text is None or text in ("", DEFAULT):
        return ModelSpec(DEFAULT)
    if text == RANDOM:
        return ModelSpec(RANDOM, DEFAULT_RANDOM_PRESET)
    if text.startswith(RANDOM + ":"):
        preset = text.partition(":")[2]
        if not preset:
            raise ValueError(f"{text!r} names no preset: write random:PRESET, e.g. random:tiny")
        return ModelSpec(RANDOM, preset)
    return ModelSpec(PATH, text)
