import pandas as pd
import pytest

from llm_ner.accounting import USAGE_COLUMNS, charge_to, charged_gold, check_usage, gold_usage, usage_table


@pytest.fixture
def sentences():
    return pd.DataFrame(
        {
            "tokens": [["Peter", "Blackburn"], ["EU", "rejects", "it"]],
            "ner_tags": [["B-PER", "I-PER"], ["B-ORG", "O", "O"]],
        }
    )


def test_a_labellers_usage_is_charged_to_the_model_trained_on_its_labels(sentences):
    labeller = usage_table(
        [
            gold_usage("llm_labeller", "demonstrations", "kNN pool", sentences),
            gold_usage("llm_labeller", "model_selection", "quality sample", sentences.iloc[:1]),
        ]
    )
    charged = charge_to(labeller, "model_llm")
    assert list(charged.columns) == USAGE_COLUMNS
    assert charged["consumer"].tolist() == ["model_llm", "model_llm"]
    assert charged["what"].tolist() == ["llm_labeller: kNN pool", "llm_labeller: quality sample"]
    assert charged[["sentences", "tokens", "entities"]].values.tolist() == [[2, 5, 2], [1, 2, 1]]
    assert labeller["consumer"].eq("llm_labeller").all()  # the input is left as it was


def test_usage_made_elsewhere_is_checked():
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['entities'\]"):
        check_usage(pd.DataFrame(columns=USAGE_COLUMNS[:-1]))
    bad = usage_table(
        [{"consumer": "x", "purpose": "prompting", "what": "", "sentences": 1, "tokens": 1, "entities": 0}]
    )
    with pytest.raises(ValueError, match=r"unknown purpose\(s\) \['prompting'\]"):
        charge_to(bad, "model_llm")
    negative = usage_table(
        [{"consumer": "x", "purpose": "training", "what": "", "sentences": -1, "tokens": 1, "entities": 0}]
    )
    with pytest.raises(ValueError, match="counts >= 0"):
        check_usage(negative)


def test_charged_gold_lists_the_asked_consumers_with_zeros_and_leaves_evaluation_out(sentences):
    usage = usage_table(
        [
            gold_usage("model_gold", "training", "pool", sentences),
            gold_usage("model_gold", "evaluation", "test sample", sentences),
            gold_usage("model_llm", "demonstrations", "kNN pool", sentences.iloc[:1]),
        ]
    )
    table = charged_gold(usage, consumers=["model_gold", "model_llm", "model_mixed"]).set_index("consumer")
    assert table.index.tolist() == ["model_gold", "model_llm", "model_mixed"]
    assert table.loc["model_gold", "charged_sentences"] == 2 and table.loc["model_gold", "training_sentences"] == 2
    assert table.loc["model_llm", "demonstrations_sentences"] == 1 and table.loc["model_llm", "charged_tokens"] == 2
    assert (table.loc["model_mixed"] == 0).all()
