"""An independent judge of the assistant's spoken answers: pocketsphinx (its model ships in its wheel).

For a fair forced choice, each skill is recognised with a JSGF grammar of every answer that skill can
give (all sums and products, every time of day, every vocabulary word, ...), so the judge picks the
closest plausible answer rather than free text; an answer counts as correct when that pick equals the
expected answer. Free decoding with pocketsphinx's general language model gives the WER of answers.
"""

from __future__ import annotations

import numpy as np

from audio.judge import SPHINX_RATE as JUDGE_RATE
from audio.judge import Judge
from audio.resample import resample
from audio.tts import SAMPLE_RATE
from engine.data.corpus import normalize_transcript
from engine.data.skills import SKILLS, fixed_answers
from engine.data.skills.base import alternatives

FIXED = "fixed"  # the one grammar of every skill whose answers never change


def _grammars() -> dict[str, str]:
    """JSGF grammar bodies (the public rule `<s>` plus helpers): one per skill that declares one, and
    FIXED for the others' fixed answers together."""
    grammars = {name: skill.grammar() for name, skill in SKILLS.items() if skill.grammar is not None}
    answers = [normalize_transcript(a) for a in fixed_answers()]
    grammars[FIXED] = f"public <s> = {alternatives(answers)};"
    return grammars


def _grammar_of(skill: str) -> str:
    """The grammar a skill's answers are judged with."""
    return skill if SKILLS[skill].grammar is not None else FIXED


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
        self.grammar.activate_search(_grammar_of(skill))
        self.grammar.start_utt()
        self.grammar.process_raw((np.clip(pcm, -1.0, 1.0) * 32767.0).astype("<i2").tobytes(), full_utt=True)
        self.grammar.end_utt()
        hyp = self.grammar.hyp()
        return hyp.hypstr if hyp is not None else ""

    def transcribe(self, wav: np.ndarray) -> str:
        """Free transcription with the general US-English language model."""
        return self.free.transcribe(wav, SAMPLE_RATE)
