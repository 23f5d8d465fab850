"""An independent judge of the assistant's spoken answers: pocketsphinx (its model ships in its wheel).

For a fair forced choice, each skill is recognised with a JSGF grammar of every answer that skill can
give (all sums and products, every time of day, every vocabulary word, ...), so the judge picks the
closest plausible answer rather than free text; an answer counts as correct when that pick equals the
expected answer. Free decoding with pocketsphinx's general language model gives the WER of answers.
"""

from __future__ import annotations

import calendar

import numpy as np

from audio.judge import SPHINX_RATE as JUDGE_RATE
from audio.judge import Judge
from audio.resample import resample
from audio.tts import SAMPLE_RATE
from engine.data.corpus import normalize_transcript
from engine.data.numbers import number_words, ordinal_words, year_words
from engine.data.templates import FALLBACK_ANSWER, fixed_answers
from engine.data.vocabulary import WORDS


def _alternatives(options: list[str]) -> str:
    return " | ".join(sorted(set(options)))


def _grammars() -> dict[str, str]:
    """JSGF grammar bodies (the public rule `<s>` plus helpers) per skill."""
    n = _alternatives([number_words(i) for i in range(145)])
    hours = _alternatives([number_words(i) for i in range(1, 13)])
    minutes = _alternatives(["o'clock"] + ["oh " + number_words(i) for i in range(1, 10)]
                            + [number_words(i) for i in range(10, 60)])  # fmt: skip
    periods = "in the morning | in the afternoon | in the evening | at night"
    weekdays = _alternatives([d.lower() for d in calendar.day_name])
    months = _alternatives([m.lower() for m in calendar.month_name[1:]])
    ordinals = _alternatives([ordinal_words(i) for i in range(1, 32)])
    years = _alternatives([year_words(y) for y in range(2020, 2041)])
    units = "second | seconds | minute | minutes | hour | hours"
    return {
        "arithmetic": f"public <s> = <n> (plus | minus | times | divided by) <n> is <n>;\n<n> = {n};",
        "time": f"public <s> = it is ({hours}) ({minutes}) ({periods});",
        "date": f"public <s> = today is ({weekdays}) the ({ordinals}) of ({months}) | it is ({years});",
        "timer": f"public <s> = okay a timer for (<n> ({units}) | half an hour) starting now;\n<n> = {n};",
        "repeat": f"public <s> = {_alternatives(list(WORDS))};",
        "fixed": "public <s> = "
        + _alternatives([normalize_transcript(a) for a in [*fixed_answers(), FALLBACK_ANSWER]])
        + ";",
    }


# Skills whose answers come from the fixed-answer grammar.
_GRAMMAR_OF = {"smalltalk": "fixed", "fallback": "fixed"}


class SpeechJudge:
    """pocketsphinx with one grammar search per skill, plus the free-transcription judge (audio/judge.py)."""

    def __init__(self) -> None:
        from pocketsphinx import Decoder  # imported here: only evaluation needs it

        self.grammar = Decoder(lm=None, samprate=JUDGE_RATE, loglevel="FATAL")
        for name, body in _grammars().items():
            self.grammar.add_jsgf_string(name, f"#JSGF V1.0;\ngrammar {name};\n{body}\n")
        self.free = Judge()

    def pick(self, wav: np.ndarray, skill: str) -> str:
        """The skill grammar's closest answer to the speech in `wav` (24 kHz), "" if none."""
        pcm = resample(np.asarray(wav, np.float32), SAMPLE_RATE, JUDGE_RATE)
        self.grammar.activate_search(_GRAMMAR_OF.get(skill, skill))
        self.grammar.start_utt()
        self.grammar.process_raw((np.clip(pcm, -1.0, 1.0) * 32767.0).astype("<i2").tobytes(), full_utt=True)
        self.grammar.end_utt()
        hyp = self.grammar.hyp()
        return hyp.hypstr if hyp is not None else ""

    def transcribe(self, wav: np.ndarray) -> str:
        """Free transcription with the general US-English language model."""
        return self.free.transcribe(wav, SAMPLE_RATE)
