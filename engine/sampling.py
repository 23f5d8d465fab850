"""Batched token sampling with per-session settings and per-session random generators.

Sampling is Gumbel-max over the top-k candidates: argmax(logits / T + Gumbel noise) draws exactly from
softmax(logits / T). Each session draws its own noise from its own `torch.Generator`, shaped by its own
settings only, so a session samples the same tokens whether it runs alone or inside any batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class SamplingConfig:
    """Per-session sampling; text is greedy by default (`greedy_text`: PAD against all words together),
    audio sampled (top-k) for natural speech."""

    text_temperature: float = 0.0
    audio_temperature: float = 0.8
    audio_top_k: int = 50
    top_p: float = 1.0
    seed: int | None = None


@dataclass(frozen=True)
class StreamSampling:
    """How one stream of one session is sampled; temperature 0 means greedy (argmax)."""

    temperature: float = 0.0
    top_k: int = 0  # 0 = whole vocabulary
    top_p: float = 1.0

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0


def make_generator(seed: int | None) -> torch.Generator:
    """A CPU generator seeded with `seed`, or from fresh entropy when None."""
    gen = torch.Generator()
    if seed is None:
        gen.seed()
    else:
        gen.manual_seed(seed)
    return gen


def sample(
    logits: Tensor,
    settings: list[StreamSampling],
    generators: list[torch.Generator],
    pad_id: int | None = None,
) -> Tensor:
    """Draw one token per row and position.

    Args:
        logits: [B, N, V] (N positions sampled independently, e.g. K x G audio codes).
        settings: one StreamSampling per row.
        generators: one generator per row (unused for greedy rows).
        pad_id: the "nothing to say now" token of a text stream; greedy rows then decide between it and
            the words by probability mass (`greedy_text`). None: plain argmax.

    Returns:
        [B, N] int64 token ids.
    """
    logits = logits.float()  # bf16 argmax/topk take slow paths on CPU
    if all(s.greedy for s in settings):
        return logits.argmax(dim=-1) if pad_id is None else greedy_text(logits, pad_id)
    B, N, V = logits.shape
    ks = [min(s.top_k or V, V) for s in settings]
    k_max = max(ks)
    values, ids = logits.topk(k_max, dim=-1)  # [B, N, k_max], sorted descending
    temps = torch.tensor([max(s.temperature, 1e-6) for s in settings])[:, None, None]
    scaled = values / temps
    rank = torch.arange(k_max)
    scaled = scaled.masked_fill(rank >= torch.tensor(ks)[:, None, None], float("-inf"))
    scaled = _top_p(scaled, torch.tensor([s.top_p for s in settings])[:, None, None])
    # greedy rows draw nothing, so their generators advance the same whatever they are batched with
    noise = torch.stack(
        [
            torch.zeros(N, k_max) if s.greedy else _gumbel(N, k, k_max, g)
            for s, k, g in zip(settings, ks, generators, strict=True)
        ]
    )
    pick = (scaled + noise).argmax(dim=-1, keepdim=True)  # [B, N, 1] index into the candidates
    drawn = ids.gather(-1, pick).squeeze(-1)
    is_greedy = torch.tensor([s.greedy for s in settings])[:, None]
    best = ids[..., 0] if pad_id is None else greedy_text(logits, pad_id)  # ids[..., 0] is the argmax
    return torch.where(is_greedy, best, drawn)


def greedy_text(logits: Tensor, pad_id: int) -> Tensor:
    """Greedy decoding of a text stream that is mostly PAD: PAD where it holds at least half the
    probability, otherwise the most likely other token.

    Plain argmax compares PAD with each word alone. Where the model is sure a word comes now but not
    which (the number after "seventeen plus five is"), the words split the mass and PAD wins every step,
    so the answer stops short. Deciding "speak or wait" on the words' total mass first, and only then
    picking the word, keeps such answers going."""
    pad_prob = logits.softmax(dim=-1)[..., pad_id]
    best_other = logits.clone()
    best_other[..., pad_id] = float("-inf")
    return torch.where(pad_prob >= 0.5, pad_id, best_other.argmax(dim=-1))


def _top_p(scaled: Tensor, top_p: Tensor) -> Tensor:
    """Mask candidates (sorted descending) outside the smallest set whose probability reaches top_p."""
    probs = scaled.softmax(dim=-1)
    before = probs.cumsum(dim=-1) - probs  # probability mass of the better candidates
    return scaled.masked_fill(before >= top_p, float("-inf"))  # the best candidate always stays


def _gumbel(n: int, k: int, k_max: int, gen: torch.Generator) -> Tensor:
    """Gumbel noise [n, k] from `gen`, padded to [n, k_max] (the padding is masked out anyway)."""
    u = torch.rand(n, k, generator=gen).clamp_(1e-12, 1.0 - 1e-7)
    noise = -torch.log(-torch.log(u))
    return torch.nn.functional.pad(noise, (0, k_max - k))
