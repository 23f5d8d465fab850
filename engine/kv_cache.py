"""Bounded per-session key/value caches, pooled so a batch of sessions needs no copies to write.

Layout of one layer's cache row along C (one row per session in a pool tensor [S, KVH, C, hd], heads
first so that attention reads it in place):

    | context slots: max_context           | ring: window + rollback slots                 |
    | prefix + injected text, kept always  | audio steps, slot = M + (ring index mod R)    |

Policy when a conversation outgrows the cache (30+ minute sessions run in constant memory):
- context positions (the session's text context and `inject_text` additions) are never evicted by audio;
  when the context slots are full the oldest *injected* segment is dropped (the initial context stays),
  and a segment injected under a key (e.g. "clock") replaces the earlier segment with that key, so
  refreshed facts do not pile up. The segments after a dropped one are written again, so the context
  holds exactly what a session that never had the dropped text would hold;
- audio steps live in a ring: banded layers keep `sliding_window` steps, full layers the most recent
  `context_window` steps (StreamingLLM: the context acts as the attention sink, the recent window follows);
- the `rollback` spare slots let `truncate` rewind and recompute up to that many steps exactly.
Keys are stored rotated, each once when written: context slot i at position i, audio step r at position r
(its step number). A query is rotated twice. Against the ring it sits at its own step number, so distances
between audio steps are the true ones. Against the context it sits where it would if the oldest step a full
layer can still see followed the context directly (StreamingLLM renumbering), so its distance to the
context stays below max_context + context_window + rollback, the range the model was trained on.
Rotating every cached key at each read instead made a step of 8 sessions ~20 % slower, one of 16 ~40 %.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

import torch
from torch import Tensor

from engine.model import AttentionView, OmniModel

log = logging.getLogger(__name__)


@dataclass
class Segment:
    """Context tokens written together: the session's own context (always first) or one injection."""

    tokens: list[int]
    key: str | None = None  # a later segment with the same key replaces this one


@dataclass
class CacheState:
    """One session's bookkeeping: which pool row, how many context slots and ring steps are filled."""

    row: int | None = None  # None until the pool hands out a row
    n_context: int = 0
    ring_len: int = 0  # audio steps written so far (ring index of the next one)
    segments: list[Segment] = field(default_factory=list)  # context segments in slot order

    def reset(self) -> None:
        self.n_context, self.ring_len, self.segments = 0, 0, []


class LayerCache:
    """One layer's view of the pool for one batched forward: writes the chunk, returns all keys/values.

    `scratch` (K, V) receives the batch's rows when they are not consecutive in the pool. Layers of one kind
    share it: a layer's keys and values are used up before the next layer gathers its own."""

    def __init__(
        self,
        k: Tensor,
        v: Tensor,
        rows: Tensor,
        row_slice: slice | None,
        write: Tensor,
        scratch: tuple[Tensor, Tensor],
    ):
        self.k, self.v, self.rows, self.row_slice, self.write = k, v, rows, row_slice, write
        self.scratch = scratch

    def update(self, k_new: Tensor, v_new: Tensor) -> tuple[Tensor, Tensor]:
        """k_new/v_new [B, T, KVH, hd] (keys rotated) -> this batch's whole cache rows [B, KVH, C, hd]."""
        rows, slots = self.rows[:, None], self.write  # [B, 1], [B, T]: where the new positions go
        self.k[rows, :, slots] = k_new.to(self.k.dtype)
        self.v[rows, :, slots] = v_new.to(self.v.dtype)
        if self.row_slice is not None:  # rows are consecutive: a view, no copy
            return self.k[self.row_slice], self.v[self.row_slice]
        # into reused memory: fresh tensors would mean megabytes of new pages per step (docs/engine.md)
        k, v = (t[: len(self.rows)] for t in self.scratch)
        torch.index_select(self.k, 0, self.rows, out=k)
        torch.index_select(self.v, 0, self.rows, out=v)
        return k, v


class KVCachePool:
    """Preallocated K/V for every layer of every open session; grows by doubling when sessions are added."""

    def __init__(self, model: OmniModel, dtype: torch.dtype, sessions: int = 4):
        cfg = model.config
        self.config, self.dtype = cfg, dtype
        self.device = model.text_head.weight.device
        self.sliding = [b.attn.sliding for b in model.blocks]
        self.k: list[Tensor] = []
        self.v: list[Tensor] = []
        self.scratch: dict[bool, tuple[Tensor, Tensor]] = {}  # per layer kind (sliding?): see LayerCache
        self.free: list[int] = []
        # held by Engine.step for a whole batched step: handing out a row may grow (replace) the tensors,
        # so sessions get their row inside the step (Engine.step), not from their caller
        self.lock = threading.RLock()
        self._allocate_rows(sessions)

    def ring_size(self, sliding: bool) -> int:
        """Ring slots of a banded (True) or full (False) layer."""
        cfg = self.config
        return (cfg.sliding_window if sliding else cfg.context_window) + cfg.rollback

    def _rows_shape(self, n: int, sliding: bool) -> tuple[int, int, int, int]:
        """Shape of n rows of a banded (True) or full (False) layer's keys or values."""
        cfg = self.config
        return (n, cfg.n_kv_heads, cfg.max_context + self.ring_size(sliding), cfg.head_dim)

    def _allocate_rows(self, n: int) -> None:
        old = self.k[0].shape[0] if self.k else 0
        for i, sliding in enumerate(self.sliding):
            shape = self._rows_shape(n, sliding)
            k = torch.zeros(shape, dtype=self.dtype, device=self.device)
            v = torch.zeros(shape, dtype=self.dtype, device=self.device)
            if old:
                k[:old], v[:old] = self.k[i], self.v[i]
                self.k[i], self.v[i] = k, v
            else:
                self.k.append(k)
                self.v.append(v)
        for sliding in set(self.sliding):
            shape = self._rows_shape(n, sliding)
            k, v = (torch.empty(shape, dtype=self.dtype, device=self.device) for _ in "kv")
            self.scratch[sliding] = (k, v)
        self.free.extend(range(n - 1, old - 1, -1))  # pop() hands out low rows first

    def open(self, state: CacheState | None = None) -> CacheState:
        """A fresh cache row for a new session (for `state` if given, which must have none yet).

        Takes the lock, so it waits for a batched step in flight: call it from the thread that steps.
        """
        state = state or CacheState()
        if state.row is not None:
            raise ValueError(f"cache state already has row {state.row}")
        with self.lock:
            if not self.free:
                self._allocate_rows(2 * self.k[0].shape[0])
            state.row = self.free.pop()
        return state

    def close(self, state: CacheState) -> None:
        """Give a session's row back to the pool (nothing to do if it never got one)."""
        if state.row is None:
            return
        with self.lock:
            self.free.append(state.row)
        state.row = None

    def bytes_per_session(self) -> int:
        """Memory one session's caches take (with its share of the gather scratch)."""
        per_layer = [t[0] for t in self.k] + [t[0] for t, _ in self.scratch.values()]
        return sum(2 * t.numel() * t.element_size() for t in per_layer)

    def make_room(self, state: CacheState, n: int, key: str | None = None) -> tuple[list[Segment], int]:
        """Make room for `n` new context tokens: drop the injected segment with the same `key` (if any), then
        the oldest injected segments until they fit (segment 0, the session's own context, stays).

        The context is cut back to where the first dropped segment began. Returns the kept segments that
        followed it (the caller writes them again: their keys and values attended to the dropped text) and
        how many of the n tokens fit after them (the rest of the new text is cut with a warning).
        """
        M, segs = self.config.max_context, state.segments
        drop = {i for i in range(1, len(segs)) if key is not None and segs[i].key == key}
        kept = sum(len(s.tokens) for i, s in enumerate(segs) if i not in drop)
        for i in range(1, len(segs)):
            if kept + n <= M:
                break
            if i not in drop:
                drop.add(i)
                kept -= len(segs[i].tokens)
        room = min(n, M - kept)
        if room < n:
            log.warning("context full (%d slots): %d of %d new tokens dropped", M, n - room, n)
        if not drop:
            return [], room
        first = min(drop)
        rewrite = [s for i, s in enumerate(segs) if i > first and i not in drop]
        state.segments = segs[:first]
        state.n_context = sum(len(s.tokens) for s in state.segments)
        return rewrite, room

    def rollback(self, state: CacheState, steps: int) -> None:
        """Forget the last `steps` audio steps (at most `rollback`), so they can be recomputed."""
        if steps > self.config.rollback:
            raise ValueError(f"cannot roll back {steps} steps, the cache keeps {self.config.rollback}")
        state.ring_len -= steps

    def plan(self, model: OmniModel, states: list[CacheState], steps: int, context: int = 0):
        """Prepare one batched forward of `steps` audio steps, or `context` context tokens, per session.

        Returns (views (full, banded), per-layer LayerCache list) and advances the states.
        """
        cfg = self.config
        if (steps == 0) == (context == 0):
            raise ValueError("a forward is either audio steps or context tokens")
        if steps > cfg.rollback:
            raise ValueError(f"at most rollback={cfg.rollback} steps per forward, got {steps}")
        dev = self.device
        rows = torch.tensor([s.row for s in states], device=dev)
        n_ctx = torch.tensor([s.n_context for s in states], device=dev)[:, None]  # [B, 1]
        r0 = torch.tensor([s.ring_len for s in states], device=dev)[:, None]  # [B, 1]
        span = torch.arange(steps or context, device=dev)[None, :]  # [1, T]
        if steps:
            step_no = r0 + span  # [B, T]
            base = (r0 - cfg.context_window + 1).clamp(min=0)  # oldest step a full layer still sees
            q_pos = n_ctx + step_no - base  # against the context
            if int(q_pos.max()) >= cfg.max_positions:
                raise RuntimeError(f"query position {int(q_pos.max())} is beyond the trained range")
            q_rope, ring_rope = model.rope(q_pos), model.rope(step_no)
            k_rope = ring_rope
        else:  # context tokens: slot i at position i, the ring is not visible
            q_rope = k_rope = model.rope(n_ctx + span)
            ring_rope = None
        views, writes = {}, {}
        for sliding in (False, True):
            mask, writes[sliding] = self._layer_kind(sliding, n_ctx, r0, steps, span)
            views[sliding] = AttentionView(q_rope, k_rope, mask, ring_rope, cfg.max_context)
        for s in states:
            s.ring_len += steps
            s.n_context += context
        ordered = rows.tolist()
        contiguous = ordered == list(range(ordered[0], ordered[0] + len(ordered)))
        row_slice = slice(ordered[0], ordered[0] + len(ordered)) if contiguous else None
        caches = [
            LayerCache(self.k[i], self.v[i], rows, row_slice, writes[sliding], self.scratch[sliding])
            for i, sliding in enumerate(self.sliding)
        ]
        return (views[False], views[True]), caches

    def _layer_kind(self, sliding: bool, n_ctx: Tensor, r0: Tensor, steps: int, span: Tensor):
        """Visibility mask [B, T, M + R] and write slots [B, T] of banded or full layers.

        Shapes: n_ctx, r0 [B, 1]; span [1, T]."""
        cfg = self.config
        M, R = cfg.max_context, self.ring_size(sliding)
        window = cfg.sliding_window if sliding else cfg.context_window
        dev = self.device
        B, T = n_ctx.shape[0], span.shape[1]
        slots = torch.arange(M, device=dev)[None, :]  # [1, M]
        j = torch.arange(R, device=dev)[None, :]  # [1, R]
        r_end = r0 + steps  # [B, 1]
        held = r_end - 1 - (r_end - 1 - j) % R  # [B, R] step number each ring slot holds after the write
        if steps:
            r_q = r0 + span  # [B, T]
            write = M + r_q % R
            age = r_q[:, :, None] - held[:, None, :]  # [B, T, R]
            ring_ok = (held[:, None, :] >= 0) & (age >= 0) & (age < window)
            ctx_ok = (slots < n_ctx)[:, None, :].expand(B, T, M)
        else:  # context tokens see earlier context only
            write = n_ctx + span  # [B, T]
            ring_ok = torch.zeros(B, T, R, dtype=torch.bool, device=dev)
            ctx_ok = slots[:, None, :] <= write[:, :, None]
        return torch.cat((ctx_ok, ring_ok), dim=-1), write
