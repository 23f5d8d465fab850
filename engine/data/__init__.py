"""Synthetic training data for the engine: skills, dialogues, rendering, encoding (`hark data synth`)."""
