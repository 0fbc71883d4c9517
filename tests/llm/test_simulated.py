"""The labeller simulator, measured on the seed's real llama-3.1-405b labels (../shared)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llm_ner.corpus import load_split
from llm_ner.llm.external import import_conll_labels
from llm_ner.llm.simulated import ErrorProfile, calibrate_scale, simulate_labels, tag_determinism
from llm_ner.metrics import entity_scores, micro_span_f1
from llm_ner.sampling import seeded_sample


@pytest.fixture(scope="module")
def seed_labels():
    from tests.conftest import SHARED_DATA

    path = SHARED_DATA / "seed_llm_annotations" / "llm_train_head.conll"
    if not path.is_file():
        pytest.skip("../shared/data is not present")
    labels, _ = import_conll_labels(path, load_split("train"))
    return labels


@pytest.fixture(scope="module")
def profile(seed_labels) -> ErrorProfile:
    return ErrorProfile.measure(list(seed_labels.gold_tags), list(seed_labels.llm_tags), list(seed_labels.tokens))


@pytest.fixture(scope="module")
def other_sentences():
    """500 gold-tagged sentences the profile was not measured on."""
    valid = load_split("valid").head(500)
    return list(valid.tokens), list(valid.ner_tags)


@pytest.mark.parametrize("target", [0.45, 0.65, 0.85, 0.95])
def test_simulated_labels_hit_their_target_label_f1_on_500_sentences(profile, other_sentences, target):
    tokens, gold = other_sentences
    calibration = calibrate_scale(tokens, gold, profile, target, seed=7)
    labels = simulate_labels(tokens, gold, profile, calibration.scale, seed=7)
    f1 = entity_scores(gold, labels).loc["micro", "f1"]  # seqeval, not the simulator's own scorer
    assert abs(f1 - target) <= 0.02
    assert calibration.label_f1 == pytest.approx(f1, abs=1e-9)


def test_the_measured_labeller_is_reproduced_type_by_type(seed_labels, profile):
    tokens, gold = list(seed_labels.tokens), list(seed_labels.gold_tags)
    real = entity_scores(gold, list(seed_labels.llm_tags))
    simulated = entity_scores(gold, simulate_labels(tokens, gold, profile, 1.0, seed=1))
    assert profile.label_f1 == pytest.approx(real.loc["micro", "f1"], abs=1e-9)
    # scale 1 is the measured labeller: same micro F1 and per-type F1 (within what the draws move them)
    assert abs(simulated.loc["micro", "f1"] - real.loc["micro", "f1"]) < 0.03
    for entity_type in ("PER", "ORG", "LOC", "MISC"):
        for score in ("precision", "recall"):
            assert abs(simulated.loc[entity_type, score] - real.loc[entity_type, score]) < 0.05, (entity_type, score)


def test_simulation_is_deterministic_for_a_seed(profile, other_sentences):
    tokens, gold = other_sentences
    first = simulate_labels(tokens, gold, profile, 0.7, seed=3)
    assert simulate_labels(tokens, gold, profile, 0.7, seed=3) == first
    assert simulate_labels(tokens, gold, profile, 0.7, seed=4) != first


SIMULATE_IN_A_PROCESS = """
import hashlib, json
from llm_ner.corpus import load_split
from llm_ner.llm.external import import_conll_labels
from llm_ner.llm.simulated import ErrorProfile, simulate_labels
from tests.conftest import SHARED_DATA
labels, _ = import_conll_labels(SHARED_DATA / "seed_llm_annotations" / "llm_train_head.conll", load_split("train"))
profile = ErrorProfile.of_labels(labels.head(400))
valid = load_split("valid").head(300)
simulated = simulate_labels(list(valid.tokens), list(valid.ner_tags), profile, 1.0, seed=3)
print(hashlib.sha256(json.dumps([simulated, profile.to_dict()]).encode()).hexdigest())
"""


def test_the_same_seed_gives_the_same_profile_and_labels_in_any_process(seed_labels):
    """Python's hash seed changes in every process (and with it the order of a set of strings):
    neither the draws' keys nor the context models' fit and sums may depend on it, as grid cells
    are keyed by their labels."""
    digests = {
        subprocess.run(
            [sys.executable, "-c", SIMULATE_IN_A_PROCESS],
            check=True,
            capture_output=True,
            text=True,
            cwd=Path(__file__).parents[2],
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
        ).stdout.strip()
        for hash_seed in ("1", "2")
    }
    assert len(digests) == 1


def test_a_labeller_equal_to_gold_simulates_gold(other_sentences):
    tokens, gold = other_sentences
    perfect = ErrorProfile.measure(gold, gold, tokens)
    assert perfect.label_f1 == 1.0 and perfect.sentence_failure == 0 and not any(perfect.spurious_spans.values())
    for scale in (1.0, 50.0):
        assert simulate_labels(tokens, gold, perfect, scale, seed=5) == [list(tags) for tags in gold]
    # a target below what it can reach: the bisection stops at the best it can do, and says so
    assert calibrate_scale(tokens, gold, perfect, 0.6, seed=5).label_f1 == 1.0


def test_more_scale_means_more_errors_and_scale_zero_is_gold(profile, other_sentences):
    tokens, gold = other_sentences
    scores = [
        micro_span_f1(gold, simulate_labels(tokens, gold, profile, scale, seed=2)) for scale in (0.0, 0.5, 1.0, 2.0)
    ]
    assert scores[0] == 1.0
    assert scores == sorted(scores, reverse=True) and scores[-1] < 0.4


@pytest.fixture(scope="module")
def held_out(seed_labels):
    """The seed's labels in two seeded halves: a profile of one, and the other half's sentences,
    gold and real labels, simulated at the real labels' F1 there (as benchmarks/simulated_labeller.py)."""
    half = seeded_sample(seed_labels, len(seed_labels) // 2, 5)
    other = seed_labels[~seed_labels["sentence_id"].isin(half["sentence_id"])]
    profile = ErrorProfile.of_labels(half)
    tokens, gold, real = list(other["tokens"]), list(other["gold_tags"]), list(other["llm_tags"])
    return profile, tokens, gold, real, calibrate_scale(tokens, gold, profile, micro_span_f1(gold, real), seed=24)


def test_errors_come_where_the_real_labeller_makes_them_on_sentences_the_profile_never_saw(held_out):
    """In context, the simulated errors fall on the tokens the real labeller got wrong: half of them
    (0.49-0.51 on three halves) against 0.12 of the tokens it got right. Without context (type and
    word shape only) that was 0.32 against 0.18."""
    _, _, gold, real, calibration = held_out
    real_wrong = [g != r for gs, rs in zip(gold, real) for g, r in zip(gs, rs)]
    simulated_wrong = [g != s for gs, ss in zip(gold, calibration.labels) for g, s in zip(gs, ss)]
    where_real_wrong = sum(r and s for r, s in zip(real_wrong, simulated_wrong)) / sum(real_wrong)
    where_real_right = sum(s and not r for r, s in zip(real_wrong, simulated_wrong)) / (
        len(real_wrong) - sum(real_wrong)
    )
    assert where_real_wrong > 0.45 and where_real_wrong > 3 * where_real_right


def test_errors_stick_to_words_as_the_real_labellers_do(held_out):
    """The fitted consistency carries over: the simulated labels treat repeated words about as
    consistently as the real ones (three halves: real 0.890-0.900, simulated 0.879-0.886), and
    more so than the same probabilities drawn afresh at every occurrence (0.872-0.873); the
    context model already puts most of a word's errors on it, so the consistency adds less here
    than it did to rates per type."""
    profile, tokens, gold, real, calibration = held_out
    assert 0.2 < profile.consistency < 0.8  # 0.31-0.67 on three halves
    assert abs(tag_determinism(tokens, calibration.labels) - tag_determinism(tokens, real)) < 0.02
    scattered = dataclasses.replace(profile, consistency=0.0)
    labels = calibrate_scale(tokens, gold, scattered, calibration.label_f1, seed=24).labels
    assert tag_determinism(tokens, labels) < tag_determinism(tokens, calibration.labels)


def test_a_profile_survives_json(profile, other_sentences):
    tokens, gold = other_sentences
    copy = ErrorProfile.from_dict(json.loads(json.dumps(profile.to_dict())))
    assert simulate_labels(tokens, gold, copy, 1.0, seed=9) == simulate_labels(tokens, gold, profile, 1.0, seed=9)


def test_bad_targets_and_scales_are_refused(profile, other_sentences):
    tokens, gold = other_sentences
    with pytest.raises(ValueError, match="target_label_f1"):
        calibrate_scale(tokens, gold, profile, 1.2, seed=1)
    with pytest.raises(ValueError, match="scale"):
        simulate_labels(tokens, gold, profile, -1.0, seed=1)
