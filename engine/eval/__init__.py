"""Evaluation of the engine on held-out spoken questions (`hark eval engine`) and `hark respond`."""
