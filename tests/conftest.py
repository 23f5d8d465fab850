"""Fixtures shared by the whole test suite (pytest puts this directory on sys.path, so `pulse` imports)."""

from pulse import pulse_server  # noqa: F401  (session fixture: a PulseAudio null-sink loopback device)
