"""The one syntax that names a model (engine or codec) on every hark command line.

    default          the shipped checkpoint: assets/engine/ for the engine; for the codec,
                     `audio.codec.load_codec`'s search (official weights if cached, else assets/codec/)
    random:PRESET    untrained, seeded weights at a size preset (the engine's: tiny, cpu, gpu, from
                     engine/model.py; the codec's: tiny, full, `CODEC_PRESETS` below); for
                     tests, demos and benchmarks before weights ship
    anything else    a checkpoint path (write `./default` for a folder that is really called so)

Older spellings are aliases, so existing flags keep working: an empty or missing value means `default`,
and a bare `random` means `random:tiny` (the engine's smallest preset; for the codec, the 8-filter one
`hark serve --codec random` has always built).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from audio.codec import Codec
    from engine.engine import Engine

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


# Sizes a random codec comes in (CodecConfig overrides): `tiny` is the 8-filter one `hark serve --codec
# random` has always built, `full` the shipped codec's architecture (`hark data synth`'s default).
CODEC_PRESETS: dict[str, dict[str, int]] = {"tiny": {"n_filters": 8, "lstm_layers": 0}, "full": {}}
RANDOM_SEED = 0  # seeded, so that every process that builds a random model builds the same one


def codec_from_spec(spec: str | None, kbps: float = 3.0) -> Codec:
    """The codec `spec` names, at `kbps`.

    Raises:
        FileNotFoundError: no checkpoint where the spec points.
        ValueError: a malformed spec or an unknown preset.
    """
    from audio.codec import build_codec, load_codec
    from audio.codec_config import CodecConfig

    parsed = parse_spec(spec)
    if parsed.kind != RANDOM:
        return load_codec(None if parsed.kind == DEFAULT else parsed.value, kbps=kbps)
    if parsed.value not in CODEC_PRESETS:
        raise ValueError(f"unknown codec preset {parsed.value!r}; choose one of {sorted(CODEC_PRESETS)}")
    return build_codec(CodecConfig(**CODEC_PRESETS[parsed.value]), kbps=kbps, seed=RANDOM_SEED)


def engine_from_spec(spec: str | None, dtype: str = "auto") -> Engine:
    """The engine `spec` names (random engines are float32).

    Raises:
        FileNotFoundError: no checkpoint where the spec points.
        ValueError: a malformed spec or an unknown preset.
    """
    from engine.engine import Engine

    parsed = parse_spec(spec)
    if parsed.kind == RANDOM:
        return Engine.random(parsed.value, seed=RANDOM_SEED, dtype="float32")
    return Engine.load(None if parsed.kind == DEFAULT else parsed.value, dtype=dtype)
