import pytest

from llm_ner.tags import CONLL_2003, Span, bio_to_spans, repair_bio, spans_to_bio

LABELS = CONLL_2003.labels


def test_label_set_is_the_conll_2003_one():
    assert LABELS == ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC")


def test_orphan_inside_tags_become_beginnings():
    tags, report = repair_bio(["O", "I-PER", "I-PER", "I-LOC", "B-ORG", "I-ORG"])
    assert tags == ["O", "B-PER", "I-PER", "B-LOC", "B-ORG", "I-ORG"]
    assert report.orphans_fixed == 2 and report.unknown_tags == ()


def test_iob1_is_converted_to_iob2():
    # IOB1: entities start with I-, B- only separates two adjacent entities of one type
    iob1 = ["I-LOC", "O", "I-PER", "I-PER", "B-PER", "I-PER"]
    assert repair_bio(iob1)[0] == ["B-LOC", "O", "B-PER", "I-PER", "B-PER", "I-PER"]


def test_unknown_tags_are_reported_and_replaced_by_o():
    tags, report = repair_bio(["[CLS]", "B-PER", "I-DATE", "I-PER"], CONLL_2003)
    assert tags == ["O", "B-PER", "O", "B-PER"]
    assert report.unknown_tags == ("[CLS]", "I-DATE")
    assert report.orphans_fixed == 1 and report.changed
    # without a schema only the IOB shape is checked: I-DATE is a type of some other schema
    tags, report = repair_bio(["[CLS]", "B-PER", "I-DATE", "I-PER"])
    assert tags == ["O", "B-PER", "B-DATE", "B-PER"] and report.unknown_tags == ("[CLS]",)


def test_valid_sequence_is_untouched():
    tags = ["B-ORG", "I-ORG", "O", "B-MISC"]
    assert repair_bio(tags) == (tags, repair_bio(tags)[1]) and not repair_bio(tags)[1].changed


def test_spans_round_trip():
    tags = ["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC", "O", "B-MISC"]
    spans = bio_to_spans(tags)
    assert spans == [Span(0, 2, "PER"), Span(3, 4, "LOC"), Span(4, 6, "LOC"), Span(7, 8, "MISC")]
    assert spans_to_bio(spans, len(tags)) == tags


def test_overlapping_spans_keep_the_earlier_longer_one():
    tags = spans_to_bio([Span(1, 2, "LOC"), Span(0, 3, "ORG")], 4)
    assert tags == ["B-ORG", "I-ORG", "I-ORG", "O"]


@pytest.mark.parametrize("span", [Span(2, 5, "PER"), Span(1, 1, "PER"), Span(0, 1, "B-PER")])
def test_bad_spans_are_rejected(span):
    with pytest.raises(ValueError):
        spans_to_bio([span], 3)
