"""The omni mixture-of-experts transformer, read bottom-up: norm -> RoPE -> attention -> MoE -> block ->
config -> model.

Token layout (docs/engine.md). A sequence is P context positions (one text token each, embedded
with `ctx_embed`) followed by one position per audio step t (G = 4 codec frames, 53 ms) whose input is

    E_user(user_audio[t]) + E_text(text[t-1]) + E_utext(user_text[t-1]) + E_asst(asst_in[t])

with asst_in[t][k] = asst_chunk[t - 1 - delays[k]][k] (codebook k of an earlier chunk; START when none).
At step t the heads predict text[t], user_text[t] and, per codebook k, asst_chunk[t - delays[k]][k]: with
delays [0, 1, 1, 1] the coarse codebook of chunk t comes first and its fine codebooks one step later,
conditioned on it (MusicGen's delay pattern). `stream_targets` / `stream_inputs` build exactly these.

Attention layers alternate between a banded sliding window (even layers) and full attention; every head
has a learned sink logit (gpt-oss) so it may attend to nothing. Context positions are always visible to
every later position, also in banded layers, so instructions never fall out of the window. Keys are
rotated once, as they are written; the bounded cache (engine/kv_cache.py) gives queries a second rotation
for its ring of audio steps, so that the distance from a query to the context stays inside the trained
range StreamingLLM-style while the distances between audio steps stay true.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

IGNORE = -100  # target value skipped by the losses


class RMSNorm(nn.Module):
    """Root-mean-square norm with a learned gain (no bias, no mean subtraction)."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        return F.rms_norm(x, (x.shape[-1],), self.weight, self.eps)


def rope_angles(positions: Tensor, head_dim: int, theta: float) -> tuple[Tensor, Tensor]:
    """cos/sin of the rotation angles of integer positions [B, T] (any range): [B, T, 1, hd/2] each.

    Computed in float64, so positions far apart still rotate exactly (a 30-minute session's audio steps
    pass 30,000)."""
    channels = torch.arange(0, head_dim, 2, dtype=torch.float64, device=positions.device)
    inv_freq = theta ** (-channels / head_dim)
    angles = positions.double()[..., None, None] * inv_freq
    return angles.cos().float(), angles.sin().float()


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate channel pairs (i, i + hd/2) of x [B, T, H, hd] by angles cos/sin [B, T, 1, hd/2] (RoFormer)."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1)


def attend(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Tensor,
    sinks: Tensor,
    ring_q: Tensor | None = None,
    ring_start: int = 0,
) -> Tensor:
    """Grouped-query attention with a per-head sink logit.

    Args:
        q: [B, T, H, hd] rotated queries.
        k, v: [B, KVH, C, hd] rotated keys and values, heads first (the cache's layout: both matmuls then
            read them in place); H is a multiple of KVH.
        mask: [B, T, C] bool, True where a query may see a key.
        sinks: [H] logits of an extra "nothing" column: a row that sees no key outputs zeros.
        ring_q: the queries rotated for keys from `ring_start` on (the cache's ring of audio steps), when
            those sit at other positions than the context keys before them (kv_cache.py).

    Returns:
        [B, T, H * hd]
    """
    B, T, H, hd = q.shape
    KVH, C = k.shape[1], k.shape[2]
    g = H // KVH
    if ring_q is not None:  # both rotations in one matmul; each key slot then keeps its own one's score
        q = torch.cat((q, ring_q), dim=1)
    n = q.shape[1] // T
    # fold the g query heads sharing a KV head into the time axis: one bmm per KV head, no KV copies
    q = q.view(B, n * T, KVH, g, hd).permute(0, 2, 3, 1, 4).reshape(B, KVH, g * n * T, hd)
    scores = (q @ k.transpose(-1, -2)).view(B, KVH, g, n, T, C) / math.sqrt(hd)
    if ring_q is not None:
        is_ring = torch.arange(C, device=k.device) >= ring_start
        scores = torch.where(is_ring, scores[:, :, :, 1], scores[:, :, :, 0])
    else:
        scores = scores[:, :, :, 0]
    scores = scores.masked_fill(~mask[:, None, None], float("-inf"))  # [B, KVH, g, T, C]
    sink = sinks.view(1, KVH, g, 1, 1).to(scores.dtype).expand(B, KVH, g, T, 1)
    probs = torch.cat((scores, sink), dim=-1).softmax(dim=-1, dtype=torch.float32)[..., :C]
    out = probs.to(v.dtype).view(B, KVH, g * T, C) @ v  # [B, KVH, g*T, hd]
    return out.view(B, KVH, g, T, hd).permute(0, 3, 1, 2, 4).reshape(B, T, H * hd)


class AttentionView(NamedTuple):
    """What one kind of layer (banded or full) may see this forward: RoPE angles and the visibility mask.

    The angles are cos/sin pairs [B, T, 1, hd/2]."""

    q_rope: tuple[Tensor, Tensor]  # queries, against the context keys (against all keys without a cache)
    k_rope: tuple[Tensor, Tensor]  # this forward's new keys, rotated once as they are stored
    mask: Tensor  # [B, T, C] bool
    ring_rope: tuple[Tensor, Tensor] | None = None  # queries, against the cache's ring of audio steps
    ring_start: int = 0  # first ring slot of a cache row


class Attention(nn.Module):
    """GQA self-attention with sinks; keys/values come from a cache when one is given."""

    def __init__(self, cfg: ModelConfig, sliding: bool):
        super().__init__()
        self.sliding = sliding
        self.n_heads, self.n_kv_heads, self.head_dim = cfg.n_heads, cfg.n_kv_heads, cfg.head_dim
        qkv_dim = (cfg.n_heads + 2 * cfg.n_kv_heads) * cfg.head_dim
        self.qkv = nn.Linear(cfg.d_model, qkv_dim, bias=False)
        self.out = nn.Linear(cfg.n_heads * cfg.head_dim, cfg.d_model, bias=False)
        self.sinks = nn.Parameter(torch.zeros(cfg.n_heads))

    def forward(self, x: Tensor, view: AttentionView, cache=None) -> Tensor:
        """x [B, T, d] -> [B, T, d]; `cache` (kv_cache.LayerCache) stores this chunk's K/V and returns all."""
        B, T, _ = x.shape
        H, KVH, hd = self.n_heads, self.n_kv_heads, self.head_dim
        q, k, v = self.qkv(x).split((H * hd, KVH * hd, KVH * hd), dim=-1)
        q, k, v = q.view(B, T, H, hd), k.view(B, T, KVH, hd), v.view(B, T, KVH, hd)
        k = apply_rope(k, *view.k_rope)
        if cache is not None:
            k, v = cache.update(k, v)  # [B, KVH, C, hd]
        else:
            k, v = k.transpose(1, 2), v.transpose(1, 2)
        ring_q = None if view.ring_rope is None else apply_rope(q, *view.ring_rope)
        q = apply_rope(q, *view.q_rope)
        return self.out(attend(q, k, v, view.mask, self.sinks, ring_q, view.ring_start))


class Routing(NamedTuple):
    """A MoE layer's routing decision, kept for the auxiliary losses and usage statistics."""

    logits: Tensor  # [N, E] router logits
    choice: Tensor  # [N, k] chosen experts


def load_balance_loss(routing: Routing, num_experts: int) -> Tensor:
    """Switch-Transformer balance loss E * sum_e f_e * p_e; equals 1 (its minimum) for uniform routing."""
    probs = routing.logits.float().softmax(dim=-1).mean(dim=0)  # [E] mean router probability
    counts = torch.bincount(routing.choice.flatten(), minlength=num_experts).float()
    return num_experts * (counts / routing.choice.numel() * probs).sum()


def router_z_loss(routing: Routing) -> Tensor:
    """ST-MoE z-loss: mean squared log-partition of the router, keeps logits small (0 at its minimum)."""
    return routing.logits.float().logsumexp(dim=-1).square().mean()


def swiglu(x: Tensor, w_in: Tensor, w_out: Tensor) -> Tensor:
    """SwiGLU feed-forward: x [..., d] @ w_in [d, 2h] -> silu(gate) * up -> @ w_out [h, d]."""
    gate, up = (x @ w_in).chunk(2, dim=-1)
    return (F.silu(gate) * up) @ w_out


class MoE(nn.Module):
    """Top-k mixture of SwiGLU experts: linear router, softmax over the k chosen logits (gpt-oss)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        E, d, h = cfg.num_experts, cfg.d_model, cfg.expert_hidden
        self.top_k = cfg.experts_per_token
        self.router = nn.Linear(d, E, bias=False)
        self.w_in = nn.Parameter(torch.randn(E, d, 2 * h) / math.sqrt(d))
        self.w_out = nn.Parameter(torch.randn(E, h, d) / math.sqrt(h))

    def forward(self, x: Tensor) -> tuple[Tensor, Routing]:
        """x [N, d] -> ([N, d], routing)."""
        logits = self.router(x)  # [N, E]
        top, choice = logits.topk(self.top_k, dim=-1)  # [N, k]
        weights = top.float().softmax(dim=-1).to(x.dtype)  # [N, k], sums to 1 per token
        N, E = x.shape[0], self.w_in.shape[0]
        if N == 1:  # one session streaming: only its k experts' weights are read
            y = self._one_token(x, choice[0].tolist(), weights[0])
        elif E <= N * self.top_k <= 8 * E:  # streaming batches: every expert is busy, read each once
            y = self._dense(x, choice, weights)
        else:  # a few tokens or training-sized batches (compute-bound)
            y = self._grouped(x, choice, weights)
        return y, Routing(logits, choice)

    def _one_token(self, x: Tensor, experts: list[int], weights: Tensor) -> Tensor:
        """x [1, d] through its chosen experts, weighted; a third faster than sorting one token's
        assignments as `_grouped` does (measured at the cpu preset)."""
        y = swiglu(x, self.w_in[experts[0]], self.w_out[experts[0]]) * weights[0]
        for e, w in zip(experts[1:], weights[1:], strict=True):
            y = y + swiglu(x, self.w_in[e], self.w_out[e]) * w
        return y

    def _dense(self, x: Tensor, choice: Tensor, weights: Tensor) -> Tensor:
        """Run every expert on every token in two batched matmuls, then keep the chosen ones' outputs."""
        y = swiglu(x, self.w_in, self.w_out)  # [N, d] @ [E, d, 2h] broadcasts -> [E, N, d]
        gates = torch.zeros(x.shape[0], y.shape[0], dtype=x.dtype, device=x.device)
        gates.scatter_(1, choice, weights)  # [N, E], zero for experts not chosen
        return torch.einsum("ne,end->nd", gates, y)

    def _grouped(self, x: Tensor, choice: Tensor, weights: Tensor) -> Tensor:
        """Sort the (token, expert) assignments by expert and run one matmul per expert that has tokens."""
        N, k = choice.shape
        order = choice.flatten().argsort(stable=True)  # [N*k] assignments grouped by expert
        counts = torch.bincount(choice.flatten(), minlength=self.w_in.shape[0]).tolist()
        groups = x[order // k].split(counts)  # per expert: its tokens [n_e, d]
        y = torch.cat([swiglu(xs, self.w_in[e], self.w_out[e]) for e, xs in enumerate(groups) if len(xs)])
        y = y[order.argsort()]  # [N*k, d] back in (token, slot) order
        return (y.view(N, k, -1) * weights[..., None]).sum(dim=1)


class DenseFFN(nn.Module):
    """Plain SwiGLU feed-forward for the blocks that are not MoE (`moe_every` > 1)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        h = cfg.expert_hidden * cfg.experts_per_token  # same active width as a MoE block
        self.w_in = nn.Parameter(torch.randn(cfg.d_model, 2 * h) / math.sqrt(cfg.d_model))
        self.w_out = nn.Parameter(torch.randn(h, cfg.d_model) / math.sqrt(h))

    def forward(self, x: Tensor) -> tuple[Tensor, None]:
        return swiglu(x, self.w_in, self.w_out), None


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(norm(x)), then x + ffn(norm(x))."""

    def __init__(self, cfg: ModelConfig, index: int):
        super().__init__()
        self.attn_norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.attn = Attention(cfg, sliding=index % 2 == 0)
        self.ffn_norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.ffn = MoE(cfg) if index % cfg.moe_every == 0 else DenseFFN(cfg)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: Tensor, view: AttentionView, cache=None) -> tuple[Tensor, Routing | None]:
        x = x + self.dropout(self.attn(self.attn_norm(x), view, cache))
        B, T, d = x.shape
        y, routing = self.ffn(self.ffn_norm(x).view(B * T, d))
        return x + self.dropout(y.view(B, T, d)), routing


class AudioEmbedding(nn.Module):
    """Embeds a chunk of codes [.., K, G]: per-frame sum of per-codebook embeddings, frames concatenated
    (keeps their order) and projected to d. Code `codebook_size` is START ("no audio yet")."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        K, C = cfg.num_codebooks, cfg.codebook_size + 1
        self.table = nn.Embedding(K * C, cfg.audio_dim)
        self.register_buffer("offsets", torch.arange(K)[:, None] * C, persistent=False)  # [K, 1]
        self.proj = nn.Linear(cfg.frames_per_step * cfg.audio_dim, cfg.d_model, bias=False)

    def forward(self, codes: Tensor) -> Tensor:
        """codes [B, T, K, G] -> [B, T, d]"""
        B, T, K, G = codes.shape
        frames = self.table(codes + self.offsets).sum(dim=2)  # [B, T, G, audio_dim]
        return self.proj(frames.view(B, T, -1))


class AudioHead(nn.Module):
    """Logits for all K x G codes of a chunk: d -> G frame vectors -> one shared classifier per codebook."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.frames = nn.Linear(cfg.d_model, cfg.frames_per_step * cfg.audio_dim, bias=False)
        self.classify = nn.Parameter(
            torch.randn(cfg.num_codebooks, cfg.audio_dim, cfg.codebook_size) / math.sqrt(cfg.audio_dim)
        )

    def forward(self, h: Tensor) -> Tensor:
        """h [B, T, d] -> logits [B, T, K, G, codebook_size]"""
        B, T, _ = h.shape
        K, a, C = self.classify.shape
        frames = self.frames(h).view(B * T, -1, a)  # [BT, G, a]
        logits = torch.einsum("nga,kac->nkgc", frames, self.classify)
        return logits.reshape(B, T, K, -1, C)


@dataclass
class ModelConfig:
    """Architecture and token layout; field names equal the keys of the checkpoint's config.json."""

    text_vocab_size: int = 1280
    num_codebooks: int = 4  # K
    frames_per_step: int = 4  # G codec frames per step
    codebook_size: int = 1024
    audio_delays: list[int] = field(default_factory=lambda: [0, 1, 1, 1])
    silence_codes: list[int] = field(default_factory=lambda: [0, 0, 0, 0])  # per codebook, digital silence
    d_model: int = 256
    n_layers: int = 8
    n_heads: int = 4
    n_kv_heads: int = 2
    head_dim: int = 64
    num_experts: int = 8
    experts_per_token: int = 2
    expert_hidden: int = 256
    moe_every: int = 1  # every moe_every-th block is MoE, the others dense
    audio_dim: int = 128  # width of a frame's embedding inside the audio embeddings/heads
    sliding_window: int = 32  # steps a banded layer sees
    context_window: int = 256  # steps a full layer sees (also the training crop length)
    max_context: int = 128  # context (prefix + injected) positions kept for the whole session
    rollback: int = 64  # extra ring slots: how many steps truncate() can rewrite
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5
    dropout: float = 0.0  # on each block's residual branches while training (eval mode ignores it)

    def __post_init__(self):
        if len(self.audio_delays) != self.num_codebooks or len(self.silence_codes) != self.num_codebooks:
            raise ValueError("audio_delays and silence_codes need one entry per codebook")
        if self.n_heads % self.n_kv_heads:
            raise ValueError("n_heads must be a multiple of n_kv_heads")

    @property
    def max_positions(self) -> int:
        """Largest RoPE position + 1 the cache can produce (training sequences must reach it too)."""
        return self.max_context + self.context_window + self.rollback

    @property
    def start_code(self) -> int:
        """Audio input id meaning "no chunk yet" (before the stream starts)."""
        return self.codebook_size

    def to_dict(self) -> dict:
        return asdict(self)


PRESETS: dict[str, ModelConfig] = {
    # tests: small windows so cache wrap-around happens within a few dozen steps
    "tiny": ModelConfig(
        d_model=64,
        n_layers=4,
        n_heads=4,
        n_kv_heads=2,
        head_dim=16,
        num_experts=4,
        experts_per_token=2,
        expert_hidden=64,
        audio_dim=32,
        sliding_window=6,
        context_window=24,
        max_context=16,
        rollback=8,
    ),
    "cpu": ModelConfig(),
    "gpu": ModelConfig(
        d_model=768,
        n_layers=16,
        n_heads=12,
        n_kv_heads=4,
        head_dim=64,
        num_experts=16,
        experts_per_token=2,
        expert_hidden=1024,
        audio_dim=256,
        sliding_window=64,
        context_window=512,
        max_context=256,
        rollback=128,
    ),
}


class Logits(NamedTuple):
    """Per-step predictions of the three output streams."""

    text: Tensor  # [B, T, V]
    user_text: Tensor  # [B, T, V]
    audio: Tensor | None  # [B, T, K, G, codebook_size]; None when not asked for


class OmniModel(nn.Module):
    """The omni transformer: text context + audio-step embeddings in, text/transcript/audio logits out."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.config = cfg
        V, d = cfg.text_vocab_size, cfg.d_model
        self.ctx_embed = nn.Embedding(V, d)
        self.text_embed = nn.Embedding(V, d)
        self.user_text_embed = nn.Embedding(V, d)
        self.user_audio = AudioEmbedding(cfg)
        self.asst_audio = AudioEmbedding(cfg)
        self.blocks = nn.ModuleList(Block(cfg, i) for i in range(cfg.n_layers))
        self.norm = RMSNorm(d, cfg.norm_eps)
        self.text_head = nn.Linear(d, V, bias=False)
        self.user_text_head = nn.Linear(d, V, bias=False)
        self.audio_head = AudioHead(cfg)
        self.apply(self._init)

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=module.weight.shape[1] ** -0.5)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=1.0)

    def num_parameters(self) -> tuple[int, int]:
        """(total, active per step): active counts k of the E experts, not the embedding tables."""
        cfg = self.config
        total = sum(p.numel() for p in self.parameters())
        embeddings = sum(m.weight.numel() for m in self.modules() if isinstance(m, nn.Embedding))
        idle = sum(
            (m.w_in.numel() + m.w_out.numel()) * (1 - cfg.experts_per_token / cfg.num_experts)
            for m in self.modules()
            if isinstance(m, MoE)
        )
        return total, int(total - embeddings - idle)

    def rope(self, positions: Tensor) -> tuple[Tensor, Tensor]:
        """positions [B, T] -> cos, sin [B, T, 1, hd/2] in the model's dtype."""
        dtype = self.text_head.weight.dtype
        cos, sin = rope_angles(positions, self.config.head_dim, self.config.rope_theta)
        return cos.to(dtype), sin.to(dtype)

    def embed_context(self, tokens: Tensor) -> Tensor:
        """tokens [B, P] -> [B, P, d]"""
        return self.ctx_embed(tokens)

    def embed_steps(self, user: Tensor, text_in: Tensor, user_text_in: Tensor, asst_in: Tensor) -> Tensor:
        """user/asst_in [B, T, K, G], text_in/user_text_in [B, T] (previous step's tokens) -> [B, T, d]"""
        return (
            self.user_audio(user)
            + self.text_embed(text_in)
            + self.user_text_embed(user_text_in)
            + self.asst_audio(asst_in)
        )

    def backbone(self, h: Tensor, views: tuple[AttentionView, AttentionView], caches=None):
        """Run the blocks. views = (full, banded); caches: per-layer kv_cache.LayerCache or None.

        Returns (normed hidden [B, T, d], list of Routing of the MoE blocks).
        """
        routings = []
        for i, block in enumerate(self.blocks):
            view = views[1] if block.attn.sliding else views[0]
            h, routing = block(h, view, None if caches is None else caches[i])
            if routing is not None:
                routings.append(routing)
        return self.norm(h), routings

    def heads(self, h: Tensor, audio: bool = True) -> Logits:
        """h [B, T, d] -> logits of every output stream (`audio` False: the text streams only, for
        text-only batches, whose audio targets are all IGNORE)."""
        return Logits(self.text_head(h), self.user_text_head(h), self.audio_head(h) if audio else None)

    def forward(
        self,
        prefix: Tensor,
        user: Tensor,
        text_in: Tensor,
        user_text_in: Tensor,
        asst_in: Tensor,
        audio: bool = True,
    ):
        """Full-sequence forward (training, tests): the context then T audio steps, causal.

        Args:
            prefix: [B, P] context tokens, left-padded with -1 (pads are invisible).
            user, asst_in: [B, T, K, G]; text_in, user_text_in: [B, T] (see `stream_inputs`).
            audio: compute the audio logits (False: `Logits.audio` is None).

        Returns:
            (Logits for the T steps, routings)
        """
        B, P = prefix.shape
        h = torch.cat(
            (self.embed_context(prefix.clamp(min=0)), self.embed_steps(user, text_in, user_text_in, asst_in)),
            1,
        )
        views = self.sequence_views(prefix >= 0, user.shape[1])
        h, routings = self.backbone(h, views)
        return self.heads(h[:, P:], audio), routings

    def sequence_views(self, prefix_valid: Tensor, steps: int) -> tuple[AttentionView, AttentionView]:
        """Attention views for a whole sequence of a left-padded prefix [B, P] then `steps` steps."""
        B, P = prefix_valid.shape
        n_ctx = prefix_valid.sum(dim=1, keepdim=True)  # [B, 1]
        idx = torch.arange(P + steps, device=prefix_valid.device)
        pos = (idx - (P - n_ctx)).clamp(min=0)  # [B, L]: context at 0..n-1, steps after
        valid = torch.cat((prefix_valid, prefix_valid.new_ones(B, steps)), dim=1)  # [B, L]
        is_ctx = idx < P
        causal = idx[None, :] <= idx[:, None]  # [L, L]
        full = causal & valid[:, None, :]  # [B, L, L]
        near = (idx[:, None] - idx[None, :]) < self.config.sliding_window
        banded = full & (near | is_ctx[None, :])  # context keys stay visible
        rope = self.rope(pos)
        return AttentionView(rope, rope, full), AttentionView(rope, rope, banded)


def shift_streams(chunks: Tensor, delays: list[int], shift: int, fill: int) -> Tensor:
    """out[:, t, k] = chunks[:, t - delays[k] - shift, k] (or `fill` before the start).

    chunks [B, S, K, G] -> [B, S, K, G]
    """
    out = torch.full_like(chunks, fill)
    S = chunks.shape[1]
    for k, d in enumerate(delays):
        lag = d + shift
        if lag < S:
            out[:, lag:, k] = chunks[:, : S - lag, k]
    return out


def stream_inputs(cfg: ModelConfig, text: Tensor, user_text: Tensor, asst: Tensor, bos: int):
    """Previous-step inputs for whole dialogues: text/user_text [B, S], asst chunks [B, S, K, G].

    Returns (text_in, user_text_in, asst_in): the stream shifted by one step (BOS / START first), the
    assistant codes also by their codebook delays.
    """
    first = torch.full_like(text[:, :1], bos)
    text_in = torch.cat((first, text[:, :-1]), dim=1)
    user_text_in = torch.cat((first, user_text[:, :-1]), dim=1)
    return text_in, user_text_in, shift_streams(asst, cfg.audio_delays, 1, cfg.start_code)


def stream_targets(cfg: ModelConfig, asst: Tensor) -> Tensor:
    """Audio targets per step: codebook k of chunk t - delays[k] (IGNORE before the start). [B, S, K, G]"""
    return shift_streams(asst, cfg.audio_delays, 0, IGNORE)
