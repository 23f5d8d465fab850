"""The pocketsphinx judge: word error rate arithmetic and recognition of clear synthetic speech."""

from audio.judge import Judge, normalise, word_error_rate, word_errors
from audio.tts import Voice, synthesize


def test_word_errors_counts_edits():
    """Substitutions, insertions and deletions each cost one edit."""
    assert word_errors("the cat sat", "the bat sat down") == (2, 3)
    assert word_errors("a b c", "a c") == (1, 3)
    assert word_errors("", "x") == (1, 0)


def test_corpus_wer_pools_words():
    """Corpus WER divides all edits by all reference words, not the mean of sentence WERs."""
    assert word_error_rate(["a b c d", "e"], ["a b c d", "f"]) == 1 / 5


def test_normalise_strips_case_and_punctuation():
    """Case and punctuation do not count as errors."""
    assert normalise("Hello, World!  It's") == "hello world it's"


def test_judge_recognises_clear_speech():
    """flite rms speaking a plain sentence is mostly recognised; silence gives no words."""
    judge = Judge()
    text = "the farmer sold the green basket in the rain"
    heard = judge.transcribe(synthesize(text, Voice("flite", "rms")))
    assert word_error_rate([text], [heard]) < 0.5
    assert judge.transcribe(synthesize("", Voice("flite", "rms"))[:100] * 0) == ""
