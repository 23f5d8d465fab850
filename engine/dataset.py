"""Training windows: from a synthesized dialogue dataset (format: docs/engine.md), or text-only ones
generated on the fly for the text stage.

A window is the dialogue's text context (always kept whole) followed by a random crop of at most
`crop_steps` audio steps, with the model's inputs and targets built as engine/model.py documents.
Batches left-pad the contexts (with -1) and right-pad the steps (targets IGNORE).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset

from engine.data.text_dialogue import text_dialogue
from engine.model import IGNORE, ModelConfig, stream_inputs, stream_targets
from engine.tokenizer import BOS_ID, PAD_ID, TextTokenizer


def read_manifest(folder: str | Path, split: str) -> list[dict]:
    """Manifest lines of one split; errors name the file and what to run."""
    path = Path(folder) / "manifest.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"no dataset at {folder} (missing {path}); create one with `hark data synth`")
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [line for line in lines if line.get("split") == split]


def read_info(folder: str | Path) -> dict:
    """The dataset's dataset.json (codebooks K, frames per step G, tokenizer path, ...)."""
    path = Path(folder) / "dataset.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; is {folder} a dataset written by `hark data synth`?")
    return json.loads(path.read_text())


def to_chunks(codes: np.ndarray, G: int) -> torch.Tensor:
    """int16 [K, F] codec codes -> int64 [S, K, G] chunks (S = F // G)."""
    K, F = codes.shape
    if F % G:
        raise ValueError(f"{F} frames is not a multiple of G={G}")
    return torch.from_numpy(codes.astype(np.int64)).view(K, F // G, G).transpose(0, 1)


def silence_codes(folder: str | Path, files: list[dict], K: int, limit: int = 200) -> list[int]:
    """Most frequent assistant code per codebook: the assistant channel is mostly digital silence."""
    counts = np.zeros((K, 65536), np.int64)
    for line in files[:limit]:
        with np.load(Path(folder) / line["file"]) as d:
            for k in range(K):
                counts[k] += np.bincount(d["asst_codes"][k].astype(np.int64), minlength=65536)
    return [int(c.argmax()) for c in counts]


class DialogueWindows(Dataset):
    """Random (or, with `random_crop=False`, leading) windows of the dialogues of one split."""

    def __init__(
        self,
        folder: str | Path,
        split: str,
        cfg: ModelConfig,
        crop_steps: int,
        random_crop: bool,
        seed: int = 0,
    ):
        self.folder, self.cfg = Path(folder), cfg
        self.files = read_manifest(folder, split)
        if not self.files:
            raise ValueError(f"{folder}/manifest.jsonl has no {split!r} dialogues")
        self.crop_steps, self.random_crop = crop_steps, random_crop
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        with np.load(self.folder / self.files[index]["file"]) as d:
            arrays = {key: d[key] for key in ("user_codes", "asst_codes", "text", "user_text", "prefix")}
        G = cfg.frames_per_step
        user, asst = to_chunks(arrays["user_codes"], G), to_chunks(arrays["asst_codes"], G)  # [S, K, G]
        S = user.shape[0]
        length = min(S, self.crop_steps)
        start = int(self.rng.integers(0, S - length + 1)) if self.random_crop else 0
        return make_window(
            cfg,
            arrays["prefix"],
            arrays["text"],
            arrays["user_text"],
            user,
            asst,
            slice(start, start + length),
        )


def make_window(
    cfg: ModelConfig,
    prefix: np.ndarray,
    text: np.ndarray,
    user_text: np.ndarray,
    user: torch.Tensor | None,
    asst: torch.Tensor | None,
    window: slice,
) -> dict[str, torch.Tensor]:
    """One training window of a dialogue: the inputs and targets of steps `window` and its whole context.

    Args:
        prefix: the context tokens [P]; text, user_text: the two text streams [S].
        user, asst: the two channels' codec chunks [S, K, G]; None for a text-only dialogue, whose audio
            inputs are all START (the learned "no audio here" code every stream starts from) and whose
            audio targets are IGNORE.
    """
    S = len(text)
    no_audio = torch.full((S, cfg.num_codebooks, cfg.frames_per_step), cfg.start_code, dtype=torch.long)
    text_t = torch.from_numpy(text.astype(np.int64))[None]  # [1, S]
    user_text_t = torch.from_numpy(user_text.astype(np.int64))[None]
    asst_chunks = no_audio if asst is None else asst
    text_in, user_text_in, asst_in = stream_inputs(cfg, text_t, user_text_t, asst_chunks[None], BOS_ID)
    audio = torch.full_like(no_audio, IGNORE) if asst is None else stream_targets(cfg, asst[None])[0]
    return {
        "prefix": torch.from_numpy(prefix.astype(np.int64))[: cfg.max_context],
        "user": (no_audio if user is None else user)[window],
        "text_in": text_in[0, window],
        "user_text_in": user_text_in[0, window],
        "asst_in": asst_in[0, window],
        "text": text_t[0, window],
        "user_text": user_text_t[0, window],
        "audio": audio[window],
    }


class TextWindows(IterableDataset):
    """An endless stream of text-only training windows, generated on the fly (engine/data/text_dialogue.py).

    Window i is a crop of text dialogue `seed * 1_000_003 + first + i` of `split`, so a resumed
    run continues with dialogues it has not seen by passing the number of windows already used as
    `first`. `window(i, rate)` speaks it `rate` times faster. `skill_weights` overrides some skills'
    shares of the exchanges (`engine.data.skills.skill_weights`)."""

    def __init__(
        self,
        split: str,
        cfg: ModelConfig,
        tokenizer: TextTokenizer,
        crop_steps: int,
        seed: int = 0,
        first: int = 0,
        skill_weights: Mapping[str, float] | None = None,
    ):
        self.split, self.cfg, self.tokenizer = split, cfg, tokenizer
        self.crop_steps, self.seed, self.first = crop_steps, seed, first
        self.skill_weights = skill_weights

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        index = self.first
        while True:
            yield self.window(index)
            index += 1

    def window(self, index: int, rate: float = 1.0) -> dict[str, torch.Tensor]:
        """Window `index` of the stream, spoken `rate` times faster than usual."""
        seed = self.seed * 1_000_003 + index
        rng = random.Random(f"crop/{seed}")
        dialogue = text_dialogue(
            seed, self.split, self.tokenizer, rate=rate, skill_weights=self.skill_weights
        )
        S = len(dialogue.text)
        length = min(S, self.crop_steps)
        # a window starts shortly before one of the user's turns: a crop that cut a question in two would
        # ask for an answer to words the window does not hold
        turn = rng.choice(dialogue.timeline.turns)
        start = min(max(turn["user_start"] - rng.randrange(8), 0), S - length)
        return make_window(
            self.cfg,
            dialogue.prefix,
            dialogue.text,
            dialogue.user_text,
            None,
            None,
            slice(start, start + length),
        )


def collate(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Stack windows: contexts left-padded with -1, steps right-padded (inputs PAD, targets IGNORE)."""
    P = max(len(it["prefix"]) for it in items)
    S = max(len(it["user"]) for it in items)
    pads = {"user": 0, "text_in": PAD_ID, "user_text_in": PAD_ID, "asst_in": 0}
    batch = {
        "prefix": torch.stack(
            [torch.cat((torch.full((P - len(it["prefix"]),), -1), it["prefix"])) for it in items]
        )
    }
    for key in items[0]:
        if key == "prefix":
            continue
        fill = pads.get(key, IGNORE)
        batch[key] = torch.stack([_pad_steps(it[key], S, fill) for it in items])
    return batch


def _pad_steps(x: torch.Tensor, length: int, fill: int) -> torch.Tensor:
    """Right-pad dim 0 of x to `length` with `fill`."""
    if x.shape[0] == length:
        return x
    pad = torch.full((length - x.shape[0], *x.shape[1:]), fill, dtype=x.dtype)
    return torch.cat((x, pad))
