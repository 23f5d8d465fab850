"""The model's building blocks: router, MoE execution paths, auxiliary losses, sinks, shapes."""

import math

import torch

from engine.model import (
    IGNORE,
    MoE,
    OmniModel,
    Routing,
    apply_rope,
    attend,
    load_balance_loss,
    rope_angles,
    router_z_loss,
    stream_inputs,
    stream_targets,
)


def test_router_picks_top_k_and_weights_sum_to_one(tiny_config):
    """Each token goes to its k highest-logit experts, mixed with weights that sum to 1."""
    moe = MoE(tiny_config)
    x = torch.randn(5, tiny_config.d_model)
    _, routing = moe(x)
    expected = routing.logits.topk(tiny_config.experts_per_token, dim=-1).indices
    assert torch.equal(routing.choice, expected)
    weights = routing.logits.gather(1, routing.choice).softmax(dim=-1)
    torch.testing.assert_close(weights.sum(dim=-1), torch.ones(5))


def test_moe_output_is_weighted_sum_of_chosen_experts(tiny_config):
    """The MoE output equals sum_j w_j * expert_j(x) over the chosen experts, for every execution path."""
    moe = MoE(tiny_config)
    E = tiny_config.num_experts
    for n in (1, 2, E, 200):  # one token, few, a streaming batch (dense path), a training batch
        x = torch.randn(n, tiny_config.d_model)
        y, routing = moe(x)
        weights = routing.logits.gather(1, routing.choice).softmax(dim=-1)
        ref = torch.zeros_like(x)
        for i in range(n):
            for j, e in enumerate(routing.choice[i].tolist()):
                gate, up = (x[i] @ moe.w_in[e]).chunk(2)
                ref[i] += weights[i, j] * ((torch.nn.functional.silu(gate) * up) @ moe.w_out[e])
        torch.testing.assert_close(y, ref, atol=1e-5, rtol=1e-4)


def test_aux_losses_at_minimum_for_uniform_routing():
    """Balance loss is 1 and z-loss 0 (their minima) when routing is uniform with normalized logits."""
    E = 4
    logits = torch.full((8, E), -math.log(E))  # uniform probabilities, log-partition 0
    choice = torch.tensor([[0, 1], [2, 3]] * 4)  # every expert gets the same share
    routing = Routing(logits, choice)
    assert load_balance_loss(routing, E).item() == torch.tensor(1.0).item()
    assert abs(router_z_loss(routing).item()) < 1e-10
    skewed = Routing(torch.tensor([[5.0, 0, 0, 0]] * 8), torch.tensor([[0, 1]] * 8))
    assert load_balance_loss(skewed, E) > 1.5
    assert router_z_loss(skewed) > 1.0


def test_sink_lets_fully_masked_row_output_zero():
    """A query that may see no key attends to the sink and outputs exactly zero; others are unaffected."""
    B, T, H, KVH, hd, C = 1, 2, 4, 2, 8, 5
    q, k, v = torch.randn(B, T, H, hd), torch.randn(B, KVH, C, hd), torch.randn(B, KVH, C, hd)
    mask = torch.ones(B, T, C, dtype=torch.bool)
    mask[0, 0] = False
    out = attend(q, k, v, mask, torch.zeros(H))
    assert torch.equal(out[0, 0], torch.zeros(H * hd))
    assert out[0, 1].abs().sum() > 0


def test_sink_logit_scales_attention_down():
    """A large sink logit drains attention (output shrinks); a very negative one gives plain softmax."""
    B, T, H, KVH, hd, C = 1, 1, 2, 1, 4, 3
    q, k, v = torch.randn(B, T, H, hd), torch.randn(B, KVH, C, hd), torch.randn(B, KVH, C, hd)
    mask = torch.ones(B, T, C, dtype=torch.bool)
    plain = attend(q, k, v, mask, torch.full((H,), -1e9))
    probs = (q[0, 0] @ k[0, 0].T / 2.0).softmax(-1)  # hd=4 -> scale 1/2
    torch.testing.assert_close(plain[0, 0].view(H, hd), probs @ v[0, 0])
    drained = attend(q, k, v, mask, torch.full((H,), 30.0))
    assert drained.abs().max() < 1e-6


def test_second_query_rotation_equals_renumbering_the_ring_keys():
    """Keys rotated once (context slot i at i, step r at r) with the query rotated twice score like every
    key rotated at its StreamingLLM position: the ring right after the context, relative to the query."""
    torch.manual_seed(0)
    B, H, KVH, hd, M, R = 2, 4, 2, 16, 5, 7
    q, k, v = torch.randn(B, 1, H, hd), torch.randn(B, M + R, KVH, hd), torch.randn(B, KVH, M + R, hd)
    mask = torch.rand(B, 1, M + R) > 0.3
    sinks = torch.randn(H)
    ctx = torch.arange(M).expand(B, M)
    steps = (40_000 + torch.arange(R)).expand(B, R)  # 35 minutes into a session
    query_step = steps[:, -1:]
    base = steps[:, :1]  # the oldest step still visible sits right after the context

    def rotate(x, positions):
        return apply_rope(x, *rope_angles(positions, hd, 10000.0))

    def rotate_keys(positions):  # -> [B, KVH, C, hd], as attend takes them
        return rotate(k, positions).transpose(1, 2)

    renumbered = torch.cat((ctx, M + steps - base), dim=1)
    expected = attend(rotate(q, M + query_step - base), rotate_keys(renumbered), v, mask, sinks)
    stored = rotate_keys(torch.cat((ctx, steps), dim=1))
    got = attend(rotate(q, M + query_step - base), stored, v, mask, sinks, rotate(q, query_step), M)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)
    assert not torch.allclose(attend(rotate(q, M + query_step - base), stored, v, mask, sinks), expected)


def test_forward_shapes_and_parameter_counts(tiny_config):
    """The forward returns logits for every stream; active parameters are fewer than total."""
    model = OmniModel(tiny_config)
    K, G, V = tiny_config.num_codebooks, tiny_config.frames_per_step, tiny_config.text_vocab_size
    B, S = 2, 7
    user = torch.randint(0, 1024, (B, S, K, G))
    logits, routings = model(
        torch.randint(0, V, (B, 3)),
        user,
        torch.zeros(B, S, dtype=torch.long),
        torch.zeros(B, S, dtype=torch.long),
        user,
    )
    assert logits.text.shape == (B, S, V) and logits.user_text.shape == (B, S, V)
    assert logits.audio.shape == (B, S, K, G, tiny_config.codebook_size)
    assert len(routings) == tiny_config.n_layers
    total, active = model.num_parameters()
    assert 0 < active < total == sum(p.numel() for p in model.parameters())


def test_delay_pattern_targets_and_inputs(tiny_config):
    """Targets put codebook k of chunk t - delay_k at step t; inputs lag them by one more step."""
    K, G = tiny_config.num_codebooks, tiny_config.frames_per_step
    S = 5
    chunks = torch.arange(S)[None, :, None, None].expand(1, S, K, G)  # code value = chunk index
    targets = stream_targets(tiny_config, chunks)
    assert targets[0, :, 0, 0].tolist() == [0, 1, 2, 3, 4]
    assert targets[0, :, 1, 0].tolist() == [IGNORE, 0, 1, 2, 3]
    text = torch.arange(S)[None]
    text_in, user_text_in, asst_in = stream_inputs(tiny_config, text, text, chunks, bos=2)
    assert text_in[0].tolist() == [2, 0, 1, 2, 3]
    start = tiny_config.start_code
    assert asst_in[0, :, 0, 0].tolist() == [start, 0, 1, 2, 3]
    assert asst_in[0, :, 3, 0].tolist() == [start, start, 0, 1, 2]
