import pytest

from llm_ner.corpus import load_split
from llm_ner.metrics import (
    Bootstrap,
    bootstrap_f1,
    entity_scores,
    micro_span_f1,
    paired_bootstrap_difference,
    token_accuracy,
)
from llm_ner.tags import CONLL_2003, repair_bio


def test_entity_scores_per_type_and_micro():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "O"]]
    table = entity_scores(gold, pred, types=CONLL_2003.names)
    assert table.loc["PER", "f1"] == 1.0
    assert table.loc["LOC", "recall"] == 0.0
    assert table.loc["ORG", "precision"] == 0.5
    assert table.loc["micro", "f1"] == pytest.approx(2 / 3)
    assert table.loc["MISC", "support"] == 0 and list(table.index)[-2:] == ["micro", "macro"]


def test_a_half_matched_entity_scores_nothing():
    assert entity_scores([["B-PER", "I-PER"]], [["B-PER", "O"]]).loc["micro", "f1"] == 0.0


def test_strict_mode_does_not_credit_entities_starting_with_i():
    gold, pred = [["B-PER", "I-PER"]], [["I-PER", "I-PER"]]
    assert entity_scores(gold, pred).loc["micro", "f1"] == 1.0  # conlleval reads I- as a start
    assert entity_scores(gold, pred, mode="strict").loc["micro", "f1"] == 0.0


def test_mismatched_lengths_and_bad_mode_are_errors():
    with pytest.raises(ValueError, match="sentence 0"):
        entity_scores([["O", "O"]], [["O"]])
    with pytest.raises(ValueError, match="conlleval"):
        entity_scores([["O"]], [["O"]], mode="lenient")


def test_token_accuracy():
    assert token_accuracy([["O", "B-PER"], ["O"]], [["O", "O"], ["O"]]) == pytest.approx(2 / 3)


def test_the_fast_span_f1_is_seqevals_micro_f1_on_real_valid_tags(train_sentences_for_metrics):
    """One F1: the simulator's fast count agrees with seqeval on real CoNLL tags against shuffled ones."""
    gold = [list(t) for t in train_sentences_for_metrics]
    # every third sentence as it is, the others reversed and repaired to valid IOB2: some spans survive
    predicted = [tags if i % 3 == 0 else repair_bio(tags[::-1])[0] for i, tags in enumerate(gold)]
    assert micro_span_f1(gold, predicted) == pytest.approx(entity_scores(gold, predicted).loc["micro", "f1"])
    assert micro_span_f1([["O"]], [["O"]]) == 1.0


def test_the_bootstrap_interval_holds_the_f1_and_narrows_with_more_sentences(train_sentences_for_metrics):
    gold = [list(t) for t in train_sentences_for_metrics]
    predicted = [tags if i % 3 == 0 else repair_bio(tags[::-1])[0] for i, tags in enumerate(gold)]
    whole = bootstrap_f1(gold, predicted, Bootstrap(seed=1))
    assert whole.value == pytest.approx(micro_span_f1(gold, predicted))
    assert whole.low < whole.value < whole.high
    assert bootstrap_f1(gold, predicted, Bootstrap(seed=1)) == whole  # seeded: the same interval again
    few = bootstrap_f1(gold[:50], predicted[:50], Bootstrap(seed=1))
    assert few.high - few.low > whole.high - whole.low
    assert str(whole).startswith(f"{whole.value:.3f} [")


def test_a_paired_difference_is_exact_for_identical_labels_and_signed_for_better_ones(train_sentences_for_metrics):
    gold = [list(t) for t in train_sentences_for_metrics]
    worse = [tags if i % 3 == 0 else repair_bio(tags[::-1])[0] for i, tags in enumerate(gold)]
    assert tuple(vars(paired_bootstrap_difference(gold, worse, worse)).values()) == (0.0, 0.0, 0.0)
    better = [tags if i % 2 == 0 else worse[i] for i, tags in enumerate(gold)]
    gain = paired_bootstrap_difference(gold, worse, better)
    assert gain.value == pytest.approx(micro_span_f1(gold, better) - micro_span_f1(gold, worse))
    assert 0 < gain.low < gain.value < gain.high
    # pairing removes the sentences' own spread: the change's interval is narrower than either F1's
    assert gain.high - gain.low < bootstrap_f1(gold, worse).high - bootstrap_f1(gold, worse).low


@pytest.fixture(scope="module")
def train_sentences_for_metrics():
    return load_split("train")["ner_tags"].head(500)
