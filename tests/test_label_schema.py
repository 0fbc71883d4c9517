"""The label schema from configuration: the tag set, aliases, and every unknown type made loud."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd
import pytest

from llm_ner.conll import ConllFormatError, check_entity_types, parse_conll, sentences_to_table
from llm_ner.llm.annotate import choose_demonstrations
from llm_ner.llm.external import import_conll_labels
from llm_ner.llm.parsing import labels_from_span_reply, labels_from_token_reply
from llm_ner.llm.settings import parse_llm_settings
from llm_ner.metrics import entity_scores
from llm_ner.settings import project_parameters
from llm_ner.tags import CONLL_2003, LabelSchema

ROOT = Path(__file__).resolve().parents[1]
MEDS = LabelSchema.from_config(
    {
        "DRUG": {"description": "A medicine, by brand or generic name.", "title": "Drug", "aliases": ["MEDICATION"]},
        "DOSE": {"description": "An amount of a drug with its unit.", "title": "Dose"},
    }
)


@pytest.fixture(scope="module")
def parameters():
    return project_parameters("base", str(ROOT / "conf"))


def test_the_tag_set_follows_the_configured_order():
    assert MEDS.labels == ("O", "B-DRUG", "I-DRUG", "B-DOSE", "I-DOSE")
    assert MEDS.type_of("medication") == "DRUG" and MEDS.type_of(" dose ") == "DOSE" and MEDS.type_of("PER") is None
    assert CONLL_2003.labels == ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC")


def test_the_default_configuration_is_conll_2003(parameters):
    configured = LabelSchema.from_config(parameters["entity_types"])
    assert configured.labels == CONLL_2003.labels
    assert [t.aliases for t in configured.types] == [t.aliases for t in CONLL_2003.types]


def test_bad_schemas_name_the_parameter():
    with pytest.raises(ValueError, match=r"entity_types.DRUG: a `description`"):
        LabelSchema.from_config({"DRUG": {"title": "Drug"}})
    with pytest.raises(ValueError, match=r"entity_types.DRUG: unknown field\(s\) \['alias'\]"):
        LabelSchema.from_config({"DRUG": {"description": "d", "alias": ["MED"]}})
    with pytest.raises(ValueError, match="'MED' would mean both DRUG and DOSE"):
        LabelSchema.from_config(
            {"DRUG": {"description": "d", "aliases": ["med"]}, "DOSE": {"description": "d", "aliases": ["MED"]}}
        )
    with pytest.raises(ValueError, match="'B-X' is not a usable type name"):
        LabelSchema.from_config({"B-X": {"description": "d"}})


def test_conll_prompts_are_byte_identical_to_the_ones_before_the_schema(parameters):
    """The CoNLL default renders exactly the prompts of the hand-written templates it replaced
    (frozen in tests/llm/data/conll_prompts.json), so every cached reply is still a cache hit."""
    settings = parse_llm_settings(
        {**parameters["llm_annotation"], "cache_path": "unused.sqlite"},
        parameters["llm_models"],
        parameters["llm_prompts"],
        parameters["cost_model"]["llm_prices"],
        LabelSchema.from_config(parameters["entity_types"]),
    )
    sentences = [
        ["Germany", "beat", "France", "2-1", "in", "Paris", "."],
        ["EU", "rejects", "German", "call", "to", "boycott", "British", "lamb", "."],
    ]
    pool = pd.DataFrame(
        {
            "tokens": [
                ["Stocks", "fell", "in", "Tokyo", "."],
                ["Peter", "Blackburn", "of", "Reuters", "said", "."],
                ["Rain", "."],
            ],
            "ner_tags": [["O", "O", "O", "B-LOC", "O"], ["B-PER", "I-PER", "O", "B-ORG", "O", "O"], ["O", "O"]],
        }
    )
    # how many kNN demonstrations is a setting, not the template: rendered at the frozen file's k = 4
    strategies = {name: dataclasses.replace(s, k=4) for name, s in sorted(settings.strategies.items())}
    rendered = {
        name: [
            strategy.messages(tokens, demos)
            for demos, tokens in zip(choose_demonstrations(strategy, sentences, pool, "lexical"), sentences)
        ]
        for name, strategy in strategies.items()
    }
    rendered["verification"] = [
        settings.verification.messages(sentences[1], [("ORG", "EU"), ("MISC", "German"), ("MISC", "British")])
    ]
    assert rendered == json.loads((ROOT / "tests/llm/data/conll_prompts.json").read_text())


def test_prompts_speak_the_configured_types(parameters):
    prompts = {
        **parameters["llm_prompts"],
        "strategies": {
            k: v
            for k, v in parameters["llm_prompts"]["strategies"].items()
            if k in ("span_json", "token_json", "knn_few_shot")
        },
    }
    annotation = {"cache_path": "c", "evaluate": {"strategies": ["token_json"], "models": ["m"]}}
    models = {"m": {"backend": "openai", "model": "m"}}
    with pytest.raises(ValueError, match=r"strategy 'token_json': example 'SOCCER.*labels type\(s\) \['LOC', 'PER'\]"):
        parse_llm_settings(annotation, models, prompts, None, MEDS)
    assert (
        "token_json" in parse_llm_settings({"cache_path": "c"}, {}, prompts, None, MEDS).unusable
    )  # not used: no error
    prompts["strategies"]["token_json"] = {
        **prompts["strategies"]["token_json"],
        "examples": [{"sentence": "Take 5 mg of Lipitor daily .", "entities": {"DOSE": ["5 mg"], "DRUG": ["Lipitor"]}}],
    }
    strategies = parse_llm_settings({"cache_path": "c"}, {}, prompts, None, MEDS).strategies
    span = strategies["span_json"].messages(["Aspirin", "100", "mg"])[-1]["content"]
    assert "as DRUG (drug) or DOSE (dose)." in span and 'JSON of the form {"DRUG": [...], "DOSE": [...]}' in span
    tokens = strategies["token_json"]
    seed = tokens.messages(["x"], tokens.examples)[-1]["content"]
    assert "{'O': 0, 'B-DRUG': 1, 'I-DRUG': 2, 'B-DOSE': 3, 'I-DOSE': 4}" in seed
    assert "{'ner_tags': [0, 3, 4, 0, 1, 0, 0]," in seed  # the example's tags, as this schema's ids
    knn = strategies["knn_few_shot"].messages(["x"])[-1]["content"]
    assert "type: DOSE (Dose), or DRUG (Drug)." in knn and "1. DOSE (Dose): An amount of a drug" in knn


def test_reply_mentions_of_other_types_are_dropped_with_a_status():
    tokens = "Take Lipitor 5 mg in Paris".split()
    labels = labels_from_span_reply(
        '{"MEDICATION": ["Lipitor"], "DOSE": ["5 mg"], "LOC": ["Paris"]}', tokens, schema=MEDS
    )
    assert labels.tags == ["O", "B-DRUG", "B-DOSE", "I-DOSE", "O", "O"]
    assert labels.status == "repaired" and labels.reasons["unknown_type"] == 1 and labels.reason_text == "unknown_type"
    token_reply = labels_from_token_reply('{"ner_tags": [0, 1, 3, 4, 0, 7]}', tokens, schema=MEDS)
    assert token_reply.tags == ["O", "B-DRUG", "B-DOSE", "I-DOSE", "O", "O"] and token_reply.reasons["invalid_tag"] == 1


def test_a_corpus_tag_outside_the_schema_names_file_line_and_the_allowed_types(tmp_path):
    text = "Take B-ACTION\nLipitor B-DRUG\n\n5 B-DOSE\nmg I-DOSE\nof O\naspirin B-DRUG\nin O\nParis B-LOC\n"
    path = tmp_path / "train.txt"
    path.write_text(text)
    table = sentences_to_table(parse_conll(text.splitlines(True), source=str(path)), str(path))
    with pytest.raises(ConllFormatError) as error:
        check_entity_types(table, MEDS)
    assert str(error.value) == (
        f"{path}, line 1: NER tag 'B-ACTION' is not one of the entity types DRUG, DOSE "
        f"(`entity_types` in parameters); allowed tags: O, B-DRUG, I-DRUG, B-DOSE, I-DOSE"
    )
    check_entity_types(table.iloc[1:0], MEDS)  # nothing to check
    with pytest.raises(ConllFormatError, match=rf"{path}, line 9: NER tag 'B-LOC'"):
        check_entity_types(table.iloc[1:], MEDS)


def test_imported_labels_outside_the_schema_are_counted_per_tag(tmp_path):
    reference = pd.DataFrame(
        {
            "sentence_id": [0],
            "document_id": [0],
            "tokens": [["Take", "Lipitor", "5", "mg"]],
            "ner_tags": [["O", "B-DRUG", "B-DOSE", "I-DOSE"]],
        }
    )
    path = tmp_path / "llm.conll"
    path.write_text("Take B-ACTION\nLipitor B-DRUG\n5 B-DOSE\nmg B-UNIT\n")
    labels, report = import_conll_labels(path, reference, MEDS)
    assert labels.loc[0, "llm_tags"] == ["O", "B-DRUG", "B-DOSE", "O"]
    assert labels.loc[0, "status"] == "repaired" and labels.loc[0, "failure_reason"] == "invalid_tag:2"
    assert report["invalid_tags"] == {"B-ACTION": 1, "B-UNIT": 1} and report["invalid_tag_count"] == 2


def test_metrics_have_a_row_per_schema_type():
    gold, predicted = [["B-DRUG", "O", "B-DOSE", "I-DOSE"]], [["B-DRUG", "O", "B-DOSE", "O"]]
    scores = entity_scores(gold, predicted, types=MEDS.names)
    assert list(scores.index) == ["DRUG", "DOSE", "micro", "macro"]
    assert scores.at["DRUG", "f1"] == 1.0 and scores.at["DOSE", "f1"] == 0.0
    assert list(entity_scores(gold, predicted).index) == ["DOSE", "DRUG", "micro", "macro"]  # those that occur


def test_a_model_of_another_schema_is_refused():
    with pytest.raises(
        ValueError,
        match=r"model_init was trained for the entity types PER, ORG, LOC, MISC .* "
        r"but this run's entity_types are DRUG, DOSE",
    ):
        MEDS.check_model(CONLL_2003.labels, "model_init")
    MEDS.check_model(MEDS.labels)
