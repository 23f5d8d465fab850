"""Import the `encodec` package without torchaudio.

encodec's package `__init__` imports `encodec.utils`, which imports torchaudio at module level only for
file loading and resampling helpers that hark never calls. torchaudio's PyPI wheels are CUDA-only and
break on our CPU machines, so when it is missing we register a stand-in module that fails loudly if
anything ever does touch it (AttributeError).
Import encodec through this module: `from audio.encodec_compat import encodec`.
"""

from __future__ import annotations

import importlib.util
import sys
import types

if "torchaudio" not in sys.modules and importlib.util.find_spec("torchaudio") is None:
    # An empty module: any use of it raises AttributeError naming torchaudio.
    sys.modules["torchaudio"] = types.ModuleType(
        "torchaudio", "stand-in: hark runs encodec without torchaudio"
    )

import encodec  # noqa: E402  (must follow the stand-in above)
import encodec.modules  # noqa: E402
import encodec.quantization  # noqa: E402

__all__ = ["encodec"]
