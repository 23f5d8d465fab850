"""The engine's text tokenizer: a small SentencePiece model with fixed ids for the stream control tokens.

Ids 0-5 are reserved and never change between trainings (other modules rely on them):
PAD (nothing new this step), UNK, BOS, EOS (end of an assistant turn), TOOL (starts a tool-call line on
the monologue) and CTX (separates text-context segments in the prefix). Pieces are trained on the
template corpus (engine/data/skills/) plus the open-vocabulary word list, digits split one per
piece (clock strings are read digit by digit), with byte fallback so any text still encodes.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path

import sentencepiece as spm

PAD_ID = 0
UNK_ID = 1
BOS_ID = 2
EOS_ID = 3
TOOL_ID = 4
CTX_ID = 5
SPECIAL_IDS = (PAD_ID, UNK_ID, BOS_ID, EOS_ID, TOOL_ID, CTX_ID)
# Control symbols take the ids right after PAD/UNK/BOS/EOS, in this order.
CONTROL_SYMBOLS = ("<tool>", "<ctx>")
DEFAULT_PATH = Path(__file__).resolve().parent.parent / "assets" / "engine" / "tokenizer.model"
_SPACE = "\u2581"  # SentencePiece's word-boundary marker


class TextTokenizer:
    """Encode/decode text for the monologue, user-transcript and context streams.

    Args:
        processor: a loaded `sentencepiece.SentencePieceProcessor` whose ids 0-5 are the reserved ones.
    """

    def __init__(self, processor: spm.SentencePieceProcessor):
        self.sp = processor
        expected = ["<pad>", "<unk>", "<s>", "</s>", *CONTROL_SYMBOLS]
        found = [processor.id_to_piece(i) for i in SPECIAL_IDS]
        if found != expected:
            raise ValueError(f"tokenizer has special pieces {found}, expected {expected}; retrain it")

    @classmethod
    def load(cls, path: str | Path | None = None) -> TextTokenizer:
        """Load a SentencePiece model (default: the shipped `assets/engine/tokenizer.model`)."""
        path = Path(path) if path is not None else DEFAULT_PATH
        if not path.is_file():
            raise FileNotFoundError(f"tokenizer model {path} not found; create it with `hark data tokenizer`")
        return cls(spm.SentencePieceProcessor(model_file=str(path)))

    @classmethod
    def train(
        cls, corpus: Iterable[str], vocab_size: int = 1280, out: str | Path | None = None
    ) -> TextTokenizer:
        """Train a BPE model on the lines of `corpus`; writes it to `out` when given.

        `vocab_size` includes the 6 reserved ids and the 256 byte-fallback pieces.
        """
        model = io.BytesIO()
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(corpus),
            model_writer=model,
            model_type="bpe",
            vocab_size=vocab_size,
            pad_id=PAD_ID,
            unk_id=UNK_ID,
            bos_id=BOS_ID,
            eos_id=EOS_ID,
            control_symbols=list(CONTROL_SYMBOLS),
            byte_fallback=True,
            split_digits=True,
            character_coverage=1.0,
            num_threads=1,
            minloglevel=2,
        )
        if out is not None:
            Path(out).parent.mkdir(parents=True, exist_ok=True)
            Path(out).write_bytes(model.getvalue())
        return cls(spm.SentencePieceProcessor(model_proto=model.getvalue()))

    @property
    def vocab_size(self) -> int:
        """Number of ids (embedding table rows needed)."""
        return self.sp.get_piece_size()

    def encode(self, text: str) -> list[int]:
        """Text -> ids, without BOS/EOS."""
        return self.sp.encode(text, out_type=int)

    def decode(self, ids: Iterable[int]) -> str:
        """Ids -> text; the reserved ids are skipped."""
        return self.sp.decode([int(i) for i in ids if int(i) not in SPECIAL_IDS])

    def piece(self, token_id: int) -> str:
        """The text one id adds when streamed ("" for reserved ids); a leading word boundary is a space."""
        if token_id in SPECIAL_IDS:
            return ""
        if self.sp.is_byte(token_id):
            return bytes([int(self.sp.id_to_piece(token_id)[3:-1], 16)]).decode("latin-1")
        return self.sp.id_to_piece(token_id).replace(_SPACE, " ")

    def encode_context(self, context: str) -> list[int]:
        """The text-context prefix: each non-empty line of `context` as CTX_ID followed by its tokens."""
        ids: list[int] = []
        for line in context.splitlines():
            if line.strip():
                ids += [CTX_ID, *self.encode(line.strip())]
        return ids
