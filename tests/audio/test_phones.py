"""Phone labels from the synthesizers' own timings, on one phone set."""

import pytest

from audio.phones import NO_PHONE, PHONES, frame_labels, supports_phones, synthesize_with_phones, to_phone
from audio.tts import SAMPLE_RATE, Voice

VOICES = [
    Voice("espeak-ng", "en-us"),
    Voice("espeak-ng", "en-gb"),
    Voice("flite", "kal16"),
    Voice("festival", "kal_diphone"),
]


def test_each_synthesizers_phone_names_land_on_one_set():
    # The same sound as espeak-ng, flite (CMU) and festival (radio) name it.
    assert to_phone("S") == to_phone("sh") == "SH"
    assert to_phone("'eI") == to_phone("ey") == "EY"
    assert to_phone("@") == to_phone("ax") == to_phone("ah") == "AH"
    assert to_phone("_:") == to_phone("pau") == to_phone("h#") == "sil"
    assert to_phone("no-such-phone") == ""


def test_frame_labels_take_the_phone_at_each_frame_centre():
    phones = [("sil", 0.0, 0.1), ("S", 0.1, 0.2), ("", 0.2, 0.3), ("IY", 0.3, 0.4)]
    labels = frame_labels(phones, n_frames=50, frame_rate=100.0)
    assert labels[5] == PHONES.index("sil")
    assert labels[15] == PHONES.index("S")
    assert labels[25] == NO_PHONE  # a phone with no place in the set is skipped, not guessed
    assert labels[35] == PHONES.index("IY")
    assert labels[45] == PHONES.index("sil")  # after the last phone


@pytest.mark.parametrize("voice", VOICES, ids=lambda v: f"{v.engine}-{v.name}")
def test_synthesizers_report_phones_that_cover_the_utterance(voice):
    assert supports_phones(voice)
    speech = synthesize_with_phones("she sells sea shells by the shore", voice)
    duration = len(speech.samples) / SAMPLE_RATE
    known = [p for p, _, _ in speech.phones if p]
    assert len(known) >= 0.95 * len(speech.phones)
    assert known.count("SH") >= 3 and "S" in known and "IY" in known
    starts = [start for _, start, _ in speech.phones]
    assert starts == sorted(starts)
    spoken = [(s, e) for p, s, e in speech.phones if p not in ("sil", "")]
    assert spoken[0][0] < 0.5 * duration < spoken[-1][1] <= duration + 0.05


def test_a_synthesizer_without_timings_is_refused():
    voice = Voice("pico", "en-US")
    assert not supports_phones(voice)
    with pytest.raises(ValueError, match="does not report"):
        synthesize_with_phones("hello", voice)
