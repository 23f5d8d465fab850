"""`hark doctor`: check that everything hark needs is installed, and say exactly how to fix what is not.

Each check is a small function returning a `Check`; the exit code is 1 when a required check fails.
Optional checks (a PulseAudio daemon, sound devices) only warn: `hark serve` and file input need neither.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

MAKE_SETUP = "or run `make setup`, which installs everything"


@dataclass
class Check:
    """The outcome of one check: `fix` says what to run when `ok` is false."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True


def _run(command: list[str]) -> str | None:
    """First line of a command's output, or None when it is missing or fails."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0].strip() if done.returncode == 0 and lines else None


def _program(name: str, info_flag: str, packages: str, why: str) -> Check:
    """A required synthesizer program: present and answering `info_flag` (its version or voices)."""
    version = _run([name, info_flag]) if shutil.which(name) else None
    if version is None:
        return Check(name, False, f"not found ({why})", f"apt-get install -y {packages}  ({MAKE_SETUP})")
    return Check(name, True, version)


def check_portaudio() -> Check:
    """PortAudio, through sounddevice: needed by `hark talk` and `hark devices`."""
    try:
        import sounddevice
    except OSError as e:
        return Check("PortAudio", False, str(e), f"apt-get install -y libportaudio2  ({MAKE_SETUP})")
    except ImportError as e:
        return Check("PortAudio", False, f"sounddevice: {e}", "make setup  (installs the Python packages)")
    return Check("PortAudio", True, sounddevice.get_portaudio_version()[1])


def check_devices() -> Check:
    """Sound devices: `hark talk` needs an input and an output; serving and file input do not."""
    from audio.devices import AudioDeviceError, list_devices

    try:
        devices = list_devices()
    except AudioDeviceError as e:
        return Check("audio devices", False, str(e), required=False)
    inputs = sum(d.input_channels > 0 for d in devices)
    outputs = sum(d.output_channels > 0 for d in devices)
    if inputs and outputs:
        return Check("audio devices", True, f"{inputs} input, {outputs} output (details: `hark devices`)")
    fix = "without a sound card: `pulseaudio --start --exit-idle-time=-1` (a null sink and its monitor)"
    detail = f"{inputs} input, {outputs} output: `hark talk` needs both; use --input FILE or `hark serve`"
    return Check("audio devices", False, detail, fix, required=False)


def check_pulseaudio() -> Check:
    """PulseAudio and its ALSA plugin: the test suite's loopback devices (optional otherwise)."""
    fix = f"apt-get install -y pulseaudio pulseaudio-utils libasound2-plugins  ({MAKE_SETUP})"
    version = _run(["pulseaudio", "--version"]) if shutil.which("pulseaudio") else None
    plugin = any(Path("/usr/lib").glob("*/alsa-lib/libasound_module_pcm_pulse.so"))
    if version is None or not plugin or not shutil.which("pacat"):
        missing = "pulseaudio" if version is None else "its ALSA plugin or pacat"
        return Check("PulseAudio", False, f"{missing} not installed (the tests need it)", fix, required=False)
    server = _run(["pactl", "info"]) if shutil.which("pactl") else None
    state = "a daemon is running" if server else "no daemon running (the tests start their own)"
    return Check("PulseAudio", True, f"{version}; {state}")


def check_espeak() -> Check:
    """espeak-ng: user voices for data, tests and evaluation."""
    return _program("espeak-ng", "--version", "espeak-ng", "speech synthesis for data and tests")


def check_flite() -> Check:
    """flite: the assistant's voice and more user voices."""
    return _program("flite", "-lv", "flite", "the assistant's voice")  # its --version exits 1


def check_festival() -> Check:
    """festival and its voices: more user voices for the training data."""
    packages = "festival festvox-kallpc16k festvox-kdlpc16k"
    check = _program("festival", "--version", packages, "user voices for training data")
    if not check.ok:
        return check
    from audio.tts import FESTIVAL_FEMALE_VOICES, installed_festival_voices

    voices = installed_festival_voices()
    if not voices:
        return Check(
            "festival", False, "no voices installed", f"apt-get install -y {packages}  ({MAKE_SETUP})"
        )
    female = installed_festival_voices(FESTIVAL_FEMALE_VOICES)
    missing = len(FESTIVAL_FEMALE_VOICES) - len(female)
    codec_voices = f"; codec training's female voices: {', '.join(female) or 'none'}"
    codec_voices += f" ({missing} missing: run `make setup`)" if missing else ""
    return Check("festival", True, f"{check.detail}; voices: {', '.join(voices)}{codec_voices}")


def check_encodec() -> Check:
    """The encodec model code, imported without torchaudio."""
    try:
        from audio.encodec_compat import encodec
    except Exception as e:  # any import failure means the same fix
        fix = "make setup  (installs encodec==0.1.1 --no-deps and einops; `pip install encodec` breaks it)"
        return Check("encodec", False, f"import failed: {e}", fix)
    return Check("encodec", True, f"encodec {getattr(encodec, '__version__', '?')} (without torchaudio)")


def _has_bf16() -> bool:
    """Whether the CPU advertises native bf16 matmul instructions."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def check_torch() -> Check:
    """torch: version, threads, CPU capability and whether bf16 weights will be fast."""
    fix = "make setup  (installs torch==2.13.0, the CPU wheel; an unpinned torch pulls a CUDA build)"
    try:
        import torch
    except ImportError as e:
        return Check("torch", False, f"import failed: {e}", fix)
    bf16 = "bf16 is fast here (avx512_bf16)" if _has_bf16() else "no native bf16: keep fp32 weights"
    detail = (
        f"{torch.__version__}, {torch.get_num_threads()} threads of {os.cpu_count()} CPUs, "
        f"{torch.backends.cpu.get_cpu_capability()}; {bf16}"
    )
    return Check("torch", True, detail)


def _checkpoint(name: str, path: Path, command: str) -> Check:
    """A shipped checkpoint: present, or made by `command`."""
    if path.exists():
        return Check(name, True, f"{path} ({path.stat().st_size / 2**20:.1f} MiB)")
    return Check(name, False, f"{path} is missing", f"{command}  (trains it and writes that file)")


def codec_checkpoint_path() -> Path:
    """Where hark's codec checkpoint belongs (audio.codec_checkpoint decides)."""
    from audio.codec_checkpoint import default_checkpoint_path

    return default_checkpoint_path()


def engine_checkpoint_path() -> Path:
    """Where the default assistant's weights belong (engine.weights decides)."""
    from engine.weights import DEFAULT_DIR, WEIGHTS_FILE

    return DEFAULT_DIR / WEIGHTS_FILE


def check_codec_checkpoint() -> Check:
    """The speech codec's weights: hark's own, or the official encodec_24khz ones in the torch hub cache."""
    from audio.codec_checkpoint import official_weights_path

    path, official = codec_checkpoint_path(), official_weights_path()
    if not path.exists() and official.exists():
        return Check("codec checkpoint", True, f"official encodec_24khz weights: {official}")
    return _checkpoint("codec checkpoint", path, "hark train codec")


def check_engine_checkpoint() -> Check:
    """The default assistant's weights."""
    return _checkpoint("engine checkpoint", engine_checkpoint_path(), "hark train engine")


CHECKS: list[Callable[[], Check]] = [
    check_portaudio,
    check_devices,
    check_pulseaudio,
    check_espeak,
    check_flite,
    check_festival,
    check_encodec,
    check_torch,
    check_codec_checkpoint,
    check_engine_checkpoint,
]


def _safe(check: Callable[[], Check]) -> Check:
    """Run one check; a check that crashes is reported as failed rather than aborting the others."""
    try:
        return check()
    except Exception as e:  # doctor must report every item even when one breaks unexpectedly
        name = check.__name__.removeprefix("check_")
        return Check(name, False, f"check crashed: {type(e).__name__}: {e}", "make setup")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `hark doctor`."""
    parser = subparsers.add_parser(
        "doctor", help="check the installation and say what to fix", description=__doc__
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print one line per check (plus its fix when it fails); exit 1 when a required check failed."""
    results = [_safe(check) for check in CHECKS]
    width = max(len(r.name) for r in results)
    for r in results:
        status = "ok" if r.ok else ("FAIL" if r.required else "warn")
        print(f"{status:<5} {r.name:<{width}}  {r.detail}")
        if not r.ok and r.fix:
            print(f"{'':<5} {'':<{width}}  fix: {r.fix}")
    failed = [r.name for r in results if r.required and not r.ok]
    if failed:
        print(f"\n{len(failed)} required item(s) missing: {', '.join(failed)}. Run the fixes shown above.")
        return 1
    print("\nEverything hark needs is in place.")
    return 0
