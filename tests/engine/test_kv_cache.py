"""Streaming through the bounded KV cache equals a full-sequence forward; the cache stays bounded."""

import dataclasses

import torch

from engine.kv_cache import KVCachePool
from engine.model import OmniModel


def random_dialogue(cfg, steps: int, prefix: int, seed: int = 0):
    """Random inputs of a dialogue: prefix [1, P], user/asst_in [1, S, K, G], text_in/user_text_in [1, S]."""
    g = torch.Generator().manual_seed(seed)
    K, G, C, V = cfg.num_codebooks, cfg.frames_per_step, cfg.codebook_size, cfg.text_vocab_size
    return (
        torch.randint(0, V, (1, prefix), generator=g),
        torch.randint(0, C, (1, steps, K, G), generator=g),
        torch.randint(0, V, (1, steps), generator=g),
        torch.randint(0, V, (1, steps), generator=g),
        torch.randint(0, C + 1, (1, steps, K, G), generator=g),
    )


def stream(model, pool, state, prefix, user, text_in, user_text_in, asst_in, chunk: int = 1):
    """Feed the context then the steps `chunk` at a time through the cache; returns text logits [1, S, V]."""
    views, caches = pool.plan(model, [state], steps=0, context=prefix.shape[1])
    model.backbone(model.embed_context(prefix), views, caches)
    outs = []
    for t in range(0, user.shape[1], chunk):
        sl = slice(t, t + chunk)
        views, caches = pool.plan(model, [state], steps=user[:, sl].shape[1])
        h = model.embed_steps(user[:, sl], text_in[:, sl], user_text_in[:, sl], asst_in[:, sl])
        h, _ = model.backbone(h, views, caches)
        outs.append(model.heads(h).text)
    return torch.cat(outs, dim=1)


@torch.no_grad()
def test_step_by_step_equals_full_forward(tiny_config):
    """Incremental decoding matches the full forward across sliding-window boundaries and ring wrap-around."""
    cfg = dataclasses.replace(tiny_config, context_window=40)
    model = OmniModel(cfg).eval()
    pool = KVCachePool(model, torch.float32)
    state = pool.open()
    inputs = random_dialogue(cfg, steps=40, prefix=5)
    full, _ = model(*inputs)
    streamed = stream(model, pool, state, *inputs)
    ring = cfg.sliding_window + cfg.rollback
    assert inputs[1].shape[1] > 2 * ring  # the banded layers' ring wrapped at least twice
    torch.testing.assert_close(streamed, full.text, atol=1e-4, rtol=1e-4)


@torch.no_grad()
def test_chunked_steps_equal_single_steps(tiny_config):
    """Several steps per forward (as truncate's replay does) give the same logits as one at a time."""
    cfg = dataclasses.replace(tiny_config, context_window=40)
    model = OmniModel(cfg).eval()
    pool = KVCachePool(model, torch.float32)
    inputs = random_dialogue(cfg, steps=32, prefix=3, seed=1)
    one = stream(model, pool, pool.open(), *inputs)
    chunked = stream(model, pool, pool.open(), *inputs, chunk=cfg.rollback)
    torch.testing.assert_close(chunked, one, atol=1e-4, rtol=1e-4)


@torch.no_grad()
def test_left_padded_prefix_matches_unpadded(tiny_config):
    """A batch row whose context is left-padded gives the same step logits as that row alone."""
    model = OmniModel(tiny_config).eval()
    prefix, *rest = random_dialogue(tiny_config, steps=10, prefix=4, seed=2)
    alone, _ = model(prefix, *rest)
    padded = torch.cat((torch.full((1, 3), -1), prefix), dim=1)
    batched, _ = model(padded, *rest)
    torch.testing.assert_close(batched.audio, alone.audio, atol=1e-4, rtol=1e-4)


@torch.no_grad()
def test_long_session_cache_stays_bounded(tiny_config):
    """Past 30 minutes (33,750 steps) the cache keeps its size and positions stay in the trained range."""
    model = OmniModel(tiny_config).eval()
    pool = KVCachePool(model, torch.float32)
    state = pool.open()
    sizes = [t.shape for t in pool.k]
    prefix, *inputs = random_dialogue(tiny_config, steps=1, prefix=4)
    stream(model, pool, state, prefix, *inputs)

    def run(steps: int) -> torch.Tensor:
        for _ in range(steps):
            views, caches = pool.plan(model, [state], steps=1)  # raises past the trained positions
            h, _ = model.backbone(model.embed_steps(*inputs), views, caches)
        return views[0].mask

    run(3 * (tiny_config.context_window + tiny_config.rollback))  # every ring wraps several times
    state.ring_len += 30 * 60 * 75 // tiny_config.frames_per_step  # the cache policy depends on counters only
    mask = run(50)
    assert [t.shape for t in pool.k] == sizes
    assert (
        mask[0, -1].sum() == 4 + tiny_config.context_window
    )  # the context plus the full window stay visible
