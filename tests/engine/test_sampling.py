"""Per-session sampling: greedy, top-k/top-p limits, the right distribution, reproducible seeds, and greedy
text deciding between PAD and the words by probability mass."""

import torch

from engine.sampling import StreamSampling, greedy_text, make_generator, sample


def test_greedy_top_k_one_and_tiny_top_p_all_pick_the_argmax():
    """Temperature 0, top_k=1 and a tiny top_p each leave only the best token."""
    logits = torch.randn(3, 5, 50)
    settings = [StreamSampling(0.0), StreamSampling(1.0, top_k=1), StreamSampling(1.0, top_p=1e-6)]
    gens = [make_generator(i) for i in range(3)]
    assert torch.equal(sample(logits, settings, gens), logits.argmax(-1))


def test_samples_follow_the_tempered_softmax_within_top_k():
    """Draw frequencies match softmax(logits / T) renormalised over the top-k; others never appear."""
    logits = torch.tensor([2.0, 1.0, 0.5, -1.0, -3.0])
    n = 4000
    draws = sample(logits.expand(1, n, 5), [StreamSampling(0.7, top_k=3)], [make_generator(0)])[0]
    freq = torch.bincount(draws, minlength=5).float() / n
    expected = torch.cat(((logits[:3] / 0.7).softmax(-1), torch.zeros(2)))
    assert (freq - expected).abs().max() < 0.03


def test_same_seed_same_tokens_regardless_of_batch_neighbours():
    """A row's draws depend only on its own generator and settings, not on the other rows."""
    logits = torch.randn(2, 8, 100)
    alone = sample(logits[:1], [StreamSampling(1.0, top_k=20)], [make_generator(5)])
    mixed = sample(
        logits,
        [StreamSampling(1.0, top_k=20), StreamSampling(0.5, top_k=90)],
        [make_generator(5), make_generator(6)],
    )
    assert torch.equal(alone[0], mixed[0])


def test_greedy_text_speaks_when_the_words_together_outweigh_pad():
    """PAD at 0.4 beats each word alone (0.1, 0.3, 0.2) but not their sum: the best word is said. PAD at
    0.6 stays PAD. Plain argmax (audio, pad_id None) would have said PAD in both rows."""
    probs = torch.tensor([[[0.4, 0.1, 0.3, 0.2]], [[0.6, 0.1, 0.2, 0.1]]])
    logits = probs.log()
    assert greedy_text(logits, pad_id=0).tolist() == [[2], [0]]
    assert sample(logits, [StreamSampling(0.0)] * 2, [make_generator(0)] * 2, pad_id=0).tolist() == [[2], [0]]
    assert sample(logits, [StreamSampling(0.0)] * 2, [make_generator(0)] * 2).tolist() == [[0], [0]]
