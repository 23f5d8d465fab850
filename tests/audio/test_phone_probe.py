"""The phone probe of `hark eval codec`: real synthesis, real codecs, labels that follow the audio."""

import pytest

from audio.codec import build_codec, load_codec
from audio.codec_config import CodecConfig
from audio.codec_data import FRAME_SIZE
from audio.phone_probe import (
    ProbeConfig,
    code_features,
    mel_features,
    phone_probe_report,
    phone_speakers,
    render_utterance,
)
from audio.phones import NO_PHONE, PHONES
from audio.speakers import Speaker, is_test_voice
from audio.tts import Voice


def test_labels_follow_the_audio_through_a_vocal_tract_scale():
    """A scaled speaker's audio is longer or shorter, and its labels stretch with it: silence at both
    ends, speech sounds in between, one label per codec frame."""
    plain = render_utterance(("the cat sat on the mat", Speaker(Voice("flite", "kal16"))))
    longer = render_utterance(("the cat sat on the mat", Speaker(Voice("flite", "kal16"), 0.8)))
    for utt in (plain, longer):
        assert len(utt.samples) % FRAME_SIZE == 0 and len(utt.labels) == len(utt.samples) // FRAME_SIZE
        spoken = utt.labels[(utt.labels != NO_PHONE) & (utt.labels != PHONES.index("sil"))]
        assert len(spoken) > 0.5 * len(utt.labels)
    assert abs(len(longer.labels) / len(plain.labels) - 1 / 0.8) < 0.03
    assert code_features(load_codec(), plain.samples).shape[0] == mel_features(plain.samples).shape[0]


def test_probe_speakers_are_held_out_and_report_phones():
    test = phone_speakers("test", 30)
    assert all(is_test_voice(s.voice) for s in test)
    assert not any(is_test_voice(s.voice) for s in phone_speakers("train", 30))


@pytest.mark.slow
def test_probe_tells_a_trained_codec_from_a_random_one():
    """The shipped codec's codes let the probe recognise far more phones of held-out speakers than a
    random codec's codes do, and the log-mel ceiling is well above chance."""
    cfg = ProbeConfig(train_utterances=50, test_utterances=20, steps=300)
    shipped = phone_probe_report(load_codec(), cfg, jobs=2)
    random_codec = phone_probe_report(build_codec(CodecConfig(), 3.0, seed=0), cfg, jobs=2)
    assert shipped["log_mel"]["accuracy"] > 0.3
    assert shipped["codes"]["accuracy"] > random_codec["codes"]["accuracy"] + 0.1
    assert shipped["log_mel"]["frames"] == random_codec["log_mel"]["frames"] > 2000
    expected_gap = 100 * (shipped["log_mel"]["accuracy"] - shipped["codes"]["accuracy"])
    assert shipped["gap_points"] == pytest.approx(expected_gap)
