"""espeak-ng with word (and phoneme) timings, in a fresh process: `python -m audio.espeak_timed`.

libespeak-ng keeps state between syntheses in one process (a klatt voice changes how the next voice
sounds, and its noise comes from libc `rand()`), so synthesizing in-process would make the audio depend
on what was spoken before. A fresh process per utterance is deterministic, like the espeak-ng command.

Protocol: argv = VOICE RATE_WPM PITCH [phonemes], the text on stdin. stdout = one JSON line
`{"rate": Hz, "events": [[char_position, sample], ...]}` (a WORD event per word: its 1-based character
position in the text and the sample where its audio starts), then the raw int16 little-endian samples.
With `phonemes`, the library is initialised with espeakINITIALIZE_PHONEME_EVENTS and the JSON also has
`"phonemes": [[sample, mnemonic], ...]`: every PHONEME event, the sample where that phoneme starts and
espeak-ng's mnemonic (`h`, `@`, `oU`, `3:`, `_:` for a pause; audio/phones.py maps them to ARPAbet).
The audio is the same with and without it. Only the standard library is imported, to keep the process
start cheap.
"""

from __future__ import annotations

import ctypes
import json
import sys

_EVENT_WORD, _EVENT_PHONEME, _EVENT_LIST_END = 1, 7, 0
_INITIALIZE_PHONEME_EVENTS = 0x0001
_AUDIO_OUTPUT_RETRIEVAL, _POS_CHARACTER, _CHARS_UTF8 = 1, 1, 1
_PARAM_RATE, _PARAM_PITCH = 1, 3
# Voice files whose language tag is not itself a voice name (`espeak-ng -v en-gb` resolves it by language).
_ALIASES = {"en-gb": "en"}


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),  # 1-based character offset of the word
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),  # ms
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),  # a union; PHONEME events: the mnemonic, NUL-padded
    ]


_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


def synthesize(
    text: str, voice: str, wpm: int, pitch: int, phonemes: bool = False
) -> tuple[int, list[list[int]], list[list], bytes]:
    """(sample rate, word events, phoneme events, int16 PCM bytes) for `text`; raises RuntimeError on
    failure. Phoneme events are recorded only when `phonemes` (else the list is empty)."""
    try:
        lib = ctypes.CDLL("libespeak-ng.so.1")
    except OSError as e:
        raise RuntimeError(
            "libespeak-ng is not installed; run `make setup` (apt-get install espeak-ng)"
        ) from e
    options = _INITIALIZE_PHONEME_EVENTS if phonemes else 0
    rate = lib.espeak_Initialize(_AUDIO_OUTPUT_RETRIEVAL, 0, None, options)
    if rate <= 0:
        raise RuntimeError("espeak_Initialize failed; check the espeak-ng-data installation")
    chunks: list[bytes] = []
    events: list[list[int]] = []
    phones: list[list] = []

    def on_audio(wav, n, event):  # noqa: ANN001, ANN202 - ctypes callback
        if n > 0:
            chunks.append(ctypes.string_at(wav, 2 * n))
        i = 0
        while event[i].type != _EVENT_LIST_END:
            if event[i].type == _EVENT_WORD:
                events.append([event[i].text_position, event[i].sample])
            elif event[i].type == _EVENT_PHONEME:
                phones.append([event[i].sample, event[i].id.decode("ascii", "replace")])
            i += 1
        return 0

    callback = _CALLBACK(on_audio)  # referenced until synthesis ends: the library holds a raw pointer
    lib.espeak_SetSynthCallback(callback)
    accent, plus, variant = voice.partition("+")
    name = _ALIASES.get(accent, accent) + plus + variant
    if lib.espeak_SetVoiceByName(name.encode()) != 0:
        raise RuntimeError(f"espeak-ng has no voice {voice!r}; see `espeak-ng --voices`")
    lib.espeak_SetParameter(_PARAM_RATE, wpm, 0)
    lib.espeak_SetParameter(_PARAM_PITCH, pitch, 0)
    data = text.encode()
    lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
    lib.espeak_Synchronize()
    return rate, events, phones, b"".join(chunks)


def main() -> int:
    """Command-line entry (see the module docstring for the protocol)."""
    voice, wpm, pitch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    phonemes = sys.argv[4:] == ["phonemes"]
    try:
        rate, events, phones, pcm = synthesize(sys.stdin.read(), voice, wpm, pitch, phonemes)
    except RuntimeError as e:
        print(e, file=sys.stderr)
        return 1
    header = {"rate": rate, "events": events, **({"phonemes": phones} if phonemes else {})}
    sys.stdout.buffer.write(json.dumps(header).encode() + b"\n" + pcm)
    return 0


if __name__ == "__main__":
    sys.exit(main())
