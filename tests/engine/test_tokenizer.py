"""The text tokenizer: fixed reserved ids, lossless round trips, streaming pieces, context prefixes."""

import pytest

from engine.data.corpus import tokenizer_corpus
from engine.data.skills import held_out_words
from engine.tokenizer import BOS_ID, CTX_ID, EOS_ID, PAD_ID, SPECIAL_IDS, TOOL_ID, UNK_ID, TextTokenizer


@pytest.fixture(scope="module")
def shipped() -> TextTokenizer:
    return TextTokenizer.load()


def test_reserved_ids_are_fixed(shipped):
    """Ids 0-5 are PAD, UNK, BOS, EOS, TOOL, CTX in the shipped model, as other modules assume."""
    assert (PAD_ID, UNK_ID, BOS_ID, EOS_ID, TOOL_ID, CTX_ID) == (0, 1, 2, 3, 4, 5)
    pieces = [shipped.sp.id_to_piece(i) for i in SPECIAL_IDS]
    assert pieces == ["<pad>", "<unk>", "<s>", "</s>", "<tool>", "<ctx>"]
    assert 1000 <= shipped.vocab_size <= 2000


def test_round_trip_including_held_out_words_and_unicode(shipped):
    """Any text decodes back exactly: template text, words never seen in training, and non-ASCII bytes."""
    texts = [
        "Seventeen plus five is twenty two.",
        'timer.set {"seconds": 300}',
        " ".join(held_out_words()[:40]),
        "café, naïve — 東京",
    ]
    for text in texts:
        ids = shipped.encode(text)
        assert UNK_ID not in ids
        assert not set(ids) & {PAD_ID, BOS_ID, EOS_ID, TOOL_ID, CTX_ID}
        assert shipped.decode(ids) == text


def test_pieces_concatenate_to_the_text(shipped):
    """Streaming the pieces of an ASCII text one id at a time reproduces it (leading space aside)."""
    text = "It is two oh five in the afternoon."
    streamed = "".join(shipped.piece(i) for i in shipped.encode(text))
    assert streamed.strip() == text
    assert all(shipped.piece(i) == "" for i in SPECIAL_IDS)


def test_decode_skips_reserved_ids(shipped):
    """PAD/EOS/TOOL interleaved in a stream do not show up in decoded text."""
    ids = shipped.encode("hello there")
    assert shipped.decode([PAD_ID, ids[0], PAD_ID, *ids[1:], EOS_ID]) == "hello there"


def test_context_prefix_marks_each_line(shipped):
    """Each non-empty context line becomes CTX_ID followed by that line's tokens."""
    prefix = shipped.encode_context("current time: Monday 23 November 2026, 14:05\n\nuser name: Ada")
    assert prefix[0] == CTX_ID and prefix.count(CTX_ID) == 2
    second = prefix.index(CTX_ID, 1)
    assert shipped.decode(prefix[1:second]) == "current time: Monday 23 November 2026, 14:05"
    assert shipped.decode(prefix[second + 1 :]) == "user name: Ada"


def test_digits_are_single_pieces(shipped):
    """Clock strings are read digit by digit, so every time of day uses the same ten digit pieces."""
    ids = shipped.encode("14:05")
    assert [shipped.piece(i) for i in ids][-5:] == ["1", "4", ":", "0", "5"]


def test_training_keeps_reserved_ids_and_size(tmp_path):
    """A freshly trained model has the reserved ids in place and the requested vocabulary size."""
    out = tmp_path / "tok.model"
    tokenizer = TextTokenizer.train(tokenizer_corpus(exchanges=300), vocab_size=400, out=out)
    assert tokenizer.vocab_size == 400
    reloaded = TextTokenizer.load(out)
    assert [reloaded.sp.id_to_piece(i) for i in (TOOL_ID, CTX_ID)] == ["<tool>", "<ctx>"]
    assert reloaded.encode("what is two plus two") == tokenizer.encode("what is two plus two")


def test_missing_model_names_the_path(tmp_path):
    """Loading a model that does not exist says where it looked and how to make one."""
    with pytest.raises(FileNotFoundError, match="nope.model.*hark data tokenizer"):
        TextTokenizer.load(tmp_path / "nope.model")
