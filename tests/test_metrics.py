import pytest

from llm_ner.corpus import load_split
from llm_ner.metrics import entity_scores, micro_span_f1, token_accuracy
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


@pytest.fixture(scope="module")
def train_sentences_for_metrics():
    return load_split("train")["ner_tags"].head(500)
