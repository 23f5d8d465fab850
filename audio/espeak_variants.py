"""Generated espeak-ng voice variants: thousands of speakers from one seed each.

An espeak-ng variant is a small text file of voice keys (pitch base and range, per-formant frequency /
strength / width, flutter, roughness, breath, voicing, consonants, echo, intonation). `variant_name(seed)`
names one, e.g. `hark1-4821`; its keys are a pure function of the seed (`variant_params`), so the name alone
says what the voice is, and `variant_file_text` renders them to the same bytes on every machine.

espeak-ng only finds variants under `<data>/voices/!v/`: a variant given as a path (`en-us+/abs/file`)
is silently ignored by both the command and the library, which then speak the plain accent (measured with
espeak-ng 1.51: the same samples with and without the path). So the files go into a private copy of the
data folder (`data_dir(seed)`: symbolic links to the system's files plus our `!v/` files), which espeak-ng
reads when the environment variable ESPEAK_DATA_PATH names it (`espeak_env(seed)`); both the command and
libespeak-ng's `espeak_Initialize` honour it. espeak-ng lists at most 349 voices and variants (with the
131 languages, 1.51 has room for 117 more beside its own 101 variants), so the generated variants are
spread over `SHARDS` such folders, each holding its share of them and none of the system's variants.
Every write goes to a temporary name and is renamed into place, so several processes can prepare the
same variant at once.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

SYSTEM_DATA_DIRS = (Path("/usr/lib/x86_64-linux-gnu/espeak-ng-data"), Path("/usr/share/espeak-ng-data"))
SHARDS = 64  # folders of generated variants: room for 64 x 218 of them
CACHE_DIR = Path(os.environ.get("HARK_ESPEAK_CACHE", Path.home() / ".cache" / "hark" / "espeak-ng"))
# The generator's version is part of every name: changing `variant_params` must rename the voices, or
# caches keyed by voice name would hand out audio of the old parameters.
PREFIX = "hark1-"
_NAME = re.compile(rf"^{re.escape(PREFIX)}(\d+)$")
# Global formant scale (a vocal-tract length) of the variants the test split alone hears. A band inside
# the sampled range, so held-out speakers are neither the most extreme nor ones training has neighbours of
# on only one side.
FORMANT_SCALE_RANGE = (0.85, 1.25)
HELD_OUT_FORMANT_SCALES = (1.06, 1.12)


@dataclass(frozen=True)
class VariantParams:
    """The keys of one generated variant (espeak-ng's units: Hz for pitch, percent elsewhere).

    Args:
        formant_scale: the global formant frequency factor, before each formant's own jitter.
        pitch: base and top of the pitch range in Hz.
        formants: (number, frequency %, strength %, width %) for formants 0-8.
        extras: other keys, each a line `key values...` in the file.
    """

    formant_scale: float
    pitch: tuple[int, int]
    formants: tuple[tuple[int, int, int, int], ...]
    extras: tuple[str, ...]


def variant_name(seed: int) -> str:
    """The variant name of `seed`, e.g. `hark1-4821` (the part after `+` in `en-us+hark1-4821`)."""
    if seed < 0:
        raise ValueError(f"variant seeds are non-negative, got {seed}")
    return f"{PREFIX}{seed}"


def variant_seed(name: str) -> int | None:
    """The seed of a generated variant name (or an `accent+name` voice name), None for any other name."""
    match = _NAME.match(name.rpartition("+")[2])
    return int(match.group(1)) if match else None


def variant_params(seed: int) -> VariantParams:
    """The keys of variant `seed`: sampled from a generator seeded by it alone."""
    rng = random.Random(f"espeak-variant-{seed}")
    scale = rng.uniform(*FORMANT_SCALE_RANGE)
    # Lower pitch goes with longer tracts (lower formants), loosely, as in people.
    base = round(min(max(rng.gauss(70 + 150 * (scale - 0.85) / 0.4, 25), 60), 210))
    top = base + round(rng.uniform(25, 140))
    formants = []
    for n in range(9):
        jitter = rng.uniform(0.94, 1.06) if 1 <= n <= 5 else 1.0
        formants.append(
            (n, round(100 * scale * jitter), round(rng.uniform(70, 135)), round(rng.uniform(75, 165)))
        )
    extras = [
        f"flutter {round(rng.uniform(0, 25))}",
        f"roughness {rng.choice((0, 0, 1, 2, 3, 4))}",
        f"voicing {round(rng.uniform(70, 130))}",
        f"consonants {round(rng.uniform(80, 130))} {round(rng.uniform(80, 130))}",
        f"intonation {rng.randint(1, 4)}",
    ]
    if rng.random() < 0.3:
        extras.append("breath " + " ".join(str(rng.randint(0, 4)) for _ in range(8)))
    if rng.random() < 0.2:
        extras.append(f"echo {round(rng.uniform(10, 140))} {round(rng.uniform(3, 15))}")
    return VariantParams(round(scale, 4), (base, top), tuple(formants), tuple(extras))


def is_held_out_variant(seed: int) -> bool:
    """Whether variant `seed` lies in the region of the variant space that only the test split hears."""
    low, high = HELD_OUT_FORMANT_SCALES
    return low <= variant_params(seed).formant_scale < high


def variant_file_text(seed: int) -> str:
    """The variant file of `seed`, byte for byte."""
    p = variant_params(seed)
    lines = ["language variant", f"name {variant_name(seed)}", f"pitch {p.pitch[0]} {p.pitch[1]}"]
    lines += [f"formant {n} {freq} {strength} {width}" for n, freq, strength, width in p.formants]
    return "\n".join([*lines, *p.extras]) + "\n"


def _system_data_dir() -> Path:
    """The installed espeak-ng data folder."""
    for path in SYSTEM_DATA_DIRS:
        if (path / "phondata").exists():
            return path
    raise RuntimeError("espeak-ng's data is not installed; run `make setup` (apt-get install espeak-ng)")


def _atomic_write(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file in the same folder and a rename."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def data_dir(seed: int) -> Path:
    """The private espeak-ng data folder of variant `seed` (created on first use): the system's files,
    linked, plus `!v/` holding the generated variants of the seed's shard. Its name carries a digest of
    the system folder's path and the shard."""
    system = _system_data_dir()
    digest = hashlib.sha256(str(system).encode()).hexdigest()[:8]
    root = CACHE_DIR / f"data-{digest}-{seed % SHARDS:02d}"
    if (root / "voices" / "!v").is_dir():
        return root
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=CACHE_DIR, prefix=".data-"))
    for entry in system.iterdir():
        if entry.name != "voices":
            (staging / entry.name).symlink_to(entry)
    (staging / "voices" / "!v").mkdir(parents=True)
    for entry in (system / "voices").iterdir():
        if entry.name != "!v":
            (staging / "voices" / entry.name).symlink_to(entry)
    try:
        staging.rename(root)
    except OSError:  # another process got there first; theirs is identical
        _remove_tree(staging)
    return root


def _remove_tree(path: Path) -> None:
    """Remove a staging folder of links and small files."""
    for sub in sorted(path.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        sub.rmdir() if sub.is_dir() and not sub.is_symlink() else sub.unlink()
    path.rmdir()


def prepare_variant(seed: int) -> Path:
    """Make sure variant `seed`'s file is in `data_dir(seed)`; returns its path."""
    path = data_dir(seed) / "voices" / "!v" / variant_name(seed)
    text = variant_file_text(seed)
    if not path.exists() or path.read_text() != text:
        _atomic_write(path, text)
    return path


def espeak_env(seed: int) -> dict[str, str]:
    """The environment under which espeak-ng (command or library) finds generated variant `seed`."""
    return {**os.environ, "ESPEAK_DATA_PATH": str(data_dir(seed))}
