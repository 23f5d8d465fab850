"""Synthetic training data for the engine: templates, dialogues, rendering, encoding (`hark data synth`)."""
