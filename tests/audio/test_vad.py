"""Server VAD: silero-vad on a 24 kHz stream, and the speech segmenter's start/stop decisions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audio.tts import Voice, synthesize
from audio.vad import WINDOW_MS, SegmenterConfig, SileroVad, SpeechSegmenter


@pytest.fixture(scope="module")
def vad() -> SileroVad:
    torch.set_num_threads(1)
    return SileroVad()


def test_silero_hears_speech_not_silence_and_any_chunking_agrees(vad):
    """Speech gets high probabilities, silence low ones, and chunk sizes do not change the result."""
    speech = synthesize("hello there, how are you", Voice("espeak-ng", "en-us+f2"))
    wav = np.concatenate([np.zeros(12000, np.float32), speech, np.zeros(12000, np.float32)])
    whole = vad.stream().process(wav)
    stream = vad.stream()
    pieces = [stream.process(wav[i : i + 1280]) for i in range(0, len(wav), 1280)]
    chunked = [x for piece in pieces for x in piece]
    assert len(whole) == len(wav) * 16000 // 24000 // 512
    np.testing.assert_allclose(chunked, whole, atol=1e-5)
    lead = int(0.5 * 1000 / WINDOW_MS)
    assert max(whole[: lead - 2]) < 0.2
    assert np.mean(np.array(whole[lead + 5 : -lead - 10]) > 0.5) > 0.6


def test_torch_thread_setting_survives_loading(vad):
    """Loading silero (whose import sets torch to 1 thread) leaves the process's thread count as it was."""
    torch.set_num_threads(2)
    SileroVad()
    assert torch.get_num_threads() == 2
    torch.set_num_threads(1)


def _run(segmenter: SpeechSegmenter, probs: list[float]):
    return [(i, e) for i, p in enumerate(probs) if (e := segmenter.update(p, 10.0)) is not None]


def test_segmenter_ignores_blips_and_reports_padded_start_and_stop():
    """Runs under min_speech_ms start nothing; a long run starts at onset - padding, stops after silence."""
    config = SegmenterConfig(threshold=0.5, prefix_padding_ms=30, silence_duration_ms=50, min_speech_ms=40)
    seg = SpeechSegmenter(config)
    blips = [0.0] * 10 + [0.9] * 3 + [0.0] * 5 + [0.9] * 3 + [0.0] * 5
    assert _run(seg, blips) == []
    blip = SpeechSegmenter(config)
    pending = [(blip.update(p, 10.0), blip.onset_pending)[1] for p in [0.9, 0.9, 0.0]]
    assert pending == [True, True, False]  # a start might follow until the blip ends
    speech = [0.9] * 10 + [0.4] * 3 + [0.9] * 2 + [0.0] * 10  # 0.4 stays above the exit threshold 0.35
    events = _run(seg, speech)
    assert [(e.kind, e.audio_ms) for _, e in events] == [("started", 260 - 30), ("stopped", 410)]
    assert events[0][0] == 3  # decided after min_speech_ms (4 windows of 10 ms)
    assert events[1][0] == 19  # decided after silence_duration_ms of quiet


def test_segmenter_start_never_before_zero():
    """Prefix padding cannot push the reported start before the stream began."""
    seg = SpeechSegmenter(SegmenterConfig(prefix_padding_ms=300, min_speech_ms=20))
    events = [e for p in [0.9] * 5 if (e := seg.update(p, 10.0))]
    assert events[0].kind == "started" and events[0].audio_ms == 0


def test_segmenter_tells_fresh_speech_from_the_silence_hangover():
    """During the silence_duration_ms hangover `speaking` stays True but `voiced_within` lets go."""
    seg = SpeechSegmenter(SegmenterConfig(threshold=0.5, silence_duration_ms=500, min_speech_ms=64))
    for _ in range(10):
        seg.update(0.9, 32)
    assert seg.speaking and seg.voiced_within(128)
    for _ in range(5):  # 160 ms of silence: still inside the hangover
        seg.update(0.0, 32)
    assert seg.speaking and not seg.voiced_within(128) and seg.voiced_within(200)
