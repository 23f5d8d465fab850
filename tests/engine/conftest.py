"""Shared fixtures for the engine tests: small untrained models on one thread."""

import dataclasses

import pytest
import torch

from engine.model import PRESETS, ModelConfig


@pytest.fixture(autouse=True)
def _one_thread():
    """The test machine's cores are shared: keep torch on one thread."""
    torch.set_num_threads(1)


@pytest.fixture
def tiny_config() -> ModelConfig:
    """The tiny preset with a small vocabulary (tests that need no tokenizer)."""
    return dataclasses.replace(PRESETS["tiny"], text_vocab_size=64)
