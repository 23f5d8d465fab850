#!/usr/bin/env bash
# Creates .venv and installs hark into it (editable, with the dev and voices extras).
# Two traps handled here, both measured on our CPU machines:
#  - torch is pinned to 2.13.0, whose CPU wheel sits on local disk; an unpinned torch pulls a multi-GB CUDA build.
#  - encodec declares torchaudio, whose PyPI build is CUDA-only and breaks `import encodec`; its model code
#    needs only torch and einops, so it is installed with --no-deps.
set -euo pipefail
venv=${VENV:-.venv}
python=${PYTHON:-python3}
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip install -q --disable-pip-version-check)
"${pip[@]}" torch==2.13.0
# pip reports "encodec 0.1.1 requires torchaudio, which is not installed": expected, see above.
"${pip[@]}" --no-deps encodec==0.1.1
"${pip[@]}" -e ".[dev,voices]"  # voices: Pico and Piper, for training data and tests
"$venv/bin/python" -c "import audio.encodec_compat, torch, sounddevice" || {
  echo "hark: the Python install finished but imports fail; run 'hark doctor' for details" >&2; exit 1; }
