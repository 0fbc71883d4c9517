"""Shared fixtures: where the project and the optional ../shared data live, and a scratch copy of
the project for end-to-end runs (so tests never write into the working tree's data/)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from llm_ner.model import TaggerConfig

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

# a real but tiny network: MiniLM's vocabulary and tokenizer, one randomly initialised layer of width 32
TINY_ENCODER = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64}


@pytest.fixture(scope="session")
def tiny_tagger_config() -> TaggerConfig:
    return TaggerConfig(encoder_weights="random", encoder_overrides=TINY_ENCODER, lstm_hidden_size=32)


@pytest.fixture
def shared_data() -> Path:
    """../shared/data when this checkout has it; tests that need it are skipped otherwise."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """A runnable copy of the project (configuration + metadata; the package itself is installed)."""
    root = tmp_path / "project"
    root.mkdir()
    for name in ("pyproject.toml", ".telemetry"):
        shutil.copy(PROJECT_ROOT / name, root / name)
    shutil.copytree(PROJECT_ROOT / "conf", root / "conf", ignore=shutil.ignore_patterns("credentials.yml"))
    shutil.copytree(PROJECT_ROOT / "notebooks", root / "notebooks")
    (root / "src").mkdir()
    (root / "data").mkdir()
    return root
