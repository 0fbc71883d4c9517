"""Fixtures for the tagger tests (the tiny tagger's config, ``tiny_tagger_config``, is the suite's:
tests/conftest.py): one CPU thread, fast training settings and a few real CoNLL-2003 sentences."""

import pytest
import torch

from llm_ner.corpus import load_split
from llm_ner.model import TrainingConfig


@pytest.fixture(autouse=True, scope="package")
def _one_cpu_thread():
    # A tiny network gains nothing from threads, and on a shared 2-core machine OpenMP
    # oversubscription makes it ~10x slower.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def fast_training_config() -> TrainingConfig:
    # large steps so that the tiny random network learns within seconds
    return TrainingConfig(
        epochs=12,
        batch_size=8,
        learning_rate=1e-2,
        head_learning_rate=3e-2,
        schedule="constant",
        early_stopping_patience=None,
        progress_bar=False,
        device="cpu",
    )


@pytest.fixture(scope="session")
def train_sentences():
    return load_split("train")


@pytest.fixture(scope="session")
def small_training_set(train_sentences) -> list[tuple[list[str], list[str]]]:
    head = train_sentences.iloc[:40]
    return [(list(t), list(g)) for t, g in zip(head["tokens"], head["ner_tags"])]
