import pandas as pd
import pytest

from llm_ner import analysis
from llm_ner.tags import CONLL_2003


def table(*sentences):
    rows = [(i, 0, [w for w, _ in s], None, None, [t for _, t in s]) for i, s in enumerate(sentences)]
    return pd.DataFrame(rows, columns=["sentence_id", "document_id", "tokens", "pos_tags", "chunk_tags", "ner_tags"])


TRAIN = table([("Paris", "B-LOC"), ("is", "O"), ("nice", "O")], [("John", "B-PER"), ("Smith", "I-PER")])
VALID = table(
    [("Paris", "B-LOC"), ("Hilton", "B-PER")], [("Paris", "B-PER"), ("and", "O"), ("John", "B-PER"), ("Smith", "I-PER")]
)


def test_unseen_entities_counts_type_and_string():
    unseen = analysis.unseen_entities(TRAIN, {"valid": VALID}, CONLL_2003.names).set_index("entity_type")
    # Paris/LOC and John Smith/PER were seen; Hilton/PER and Paris-as-PER were not
    assert unseen.loc["ALL", "mentions"] == 4 and unseen.loc["ALL", "unseen_mentions"] == 2
    assert unseen.loc["PER", "unseen_mention_share"] == pytest.approx(2 / 3)
    assert unseen.loc["LOC", "unseen_mentions"] == 0
    assert unseen.loc["ALL", "distinct_strings"] == 4


def test_summary_and_distributions():
    summary = analysis.split_summary({"train": TRAIN}).iloc[0]
    assert (summary["sentences"], summary["tokens"], summary["entities"]) == (2, 5, 2)
    tags = analysis.tag_distribution({"train": TRAIN})
    assert set(tags["tag_kind"]) == {"ner"}  # 2-column input has no POS/chunk to count
    assert tags.set_index("tag").loc["O", "count"] == 2
    lengths = analysis.length_distribution({"valid": VALID}, "entity")
    assert lengths.set_index(["entity_type", "length"]).loc[("PER", 2), "count"] == 1
    per_type = analysis.entities_per_type({"valid": VALID}, CONLL_2003.names).set_index("entity_type")["count"]
    assert per_type.to_dict() == {"PER": 3, "ORG": 0, "LOC": 1, "MISC": 0}
    with pytest.raises(ValueError, match="sentence"):
        analysis.length_distribution({"valid": VALID}, "paragraph")
