"""Reading LLM replies: JSON extraction, span alignment to CoNLL tokens, token-level replies."""

from __future__ import annotations

import pytest

from llm_ner.llm.alignment import find_mention
from llm_ner.llm.parsing import extract_json, labels_from_span_reply, labels_from_token_reply, verdicts_from_reply

HOUSTON = (
    "In Houston , Orlando Miller 's two-run homer off Todd Stottlemyre gave the Houston Astros a win over "
    "the St. Louis Cardinals ."
).split()


@pytest.mark.parametrize(
    "mention, windows, kind",
    [
        ("Orlando Miller", ((3, 5),), "exact"),
        ("Miller's", ((4, 6),), "exact"),  # written without the token break
        ("st. louis cardinals", ((19, 22),), "casefold"),
        ("St Louis Cardinals", ((19, 22),), "fuzzy"),
        ("Houston", ((1, 2), (13, 14)), "exact"),  # every occurrence, as CoNLL labels them
        ("Lisbon", (), None),
        ("", (), None),
    ],
)
def test_find_mention(mention, windows, kind):
    match = find_mention(HOUSTON, mention)
    assert match.windows == windows and match.kind == kind


def test_span_reply_overlaps_resolve_to_the_longer_entity():
    reply = '{"LOC": ["Houston"], "ORG": ["Houston Astros"], "PER": ["Orlando Miller"]}'
    labels = labels_from_span_reply(reply, HOUSTON)
    assert labels.status == "ok"
    assert (
        labels.tags[1] == "B-LOC"
        and labels.tags[13:15] == ["B-ORG", "I-ORG"]
        and labels.tags[3:5] == ["B-PER", "I-PER"]
    )


@pytest.mark.parametrize(
    "reply, status, reason",
    [
        ('```json\n{"PER": ["Todd Stottlemyre"]}\n```', "ok", ""),
        ("{'PER': ['Todd Stottlemyre'],}", "repaired", "json_repaired"),
        ('{"PER": ["Todd Stottlemyre"', "repaired", "json_repaired"),  # cut off by max_tokens
        ('{"PERSON": ["Todd Stottlemyre"], "DATE": ["today"]}', "repaired", "unknown_type"),
        ('[{"text": "Todd Stottlemyre", "type": "PER"}]', "ok", ""),
        ('{"PER": ["Todd Stottlemyre", "Babe Ruth"]}', "repaired", "unaligned_entity"),
        ("no entities, sorry", "failed", "no_json"),
        ("   ", "failed", "empty_reply"),
    ],
)
def test_span_reply_variants(reply, status, reason):
    labels = labels_from_span_reply(reply, HOUSTON)
    assert (labels.status, labels.reason_text) == (status, reason)
    if status != "failed":
        assert labels.tags[9:11] == ["B-PER", "I-PER"] and len(labels.tags) == len(HOUSTON)


def test_token_reply_variants():
    tokens = ["EU", "rejects", "German", "call"]
    assert labels_from_token_reply('{"ner_tags": [3, 0, 7, 0]}', tokens).tags == ["B-ORG", "O", "B-MISC", "O"]
    assert labels_from_token_reply('{"ner_tags": ["B-ORG", "O", "B-MISC", "O"]}', tokens).status == "ok"
    too_long = labels_from_token_reply('{"ner_tags": [3, 0, 7, 0, 0, 5]}', tokens)
    assert too_long.tags == ["B-ORG", "O", "B-MISC", "O"] and too_long.reason_text == "length_mismatch"
    invalid = labels_from_token_reply('{"ner_tags": [3, 42, "I-MISC", "B-DATE"]}', tokens)
    assert invalid.tags == ["B-ORG", "O", "B-MISC", "O"] and invalid.reason_text == "bio_repaired;invalid_tag:2"
    assert labels_from_token_reply('{"tokens": ["EU"]}', tokens).reason_text == "no_json"


def test_extract_json_takes_the_first_acceptable_value_with_its_place_in_the_reply():
    found = extract_json('a {"x": 1} b {"x": 2}', lambda v: isinstance(v, dict))
    assert (found.value, found.repaired, found.start, found.end) == ({"x": 1}, False, 2, 10)
    assert extract_json("nothing", lambda v: True) is None


EU = "EU rejects German call to boycott British lamb .".split()
EU_TAGS = ["B-ORG", "O", "B-MISC", "O", "O", "O", "B-MISC", "O", "O"]
EU_JSON = '{"ORG": ["EU"], "MISC": ["German", "British"]}'


@pytest.mark.parametrize(
    "reply, status, reason",
    [
        # chatty continuations after the right answer: the first answer wins
        (EU_JSON + '\nSentence: \'Peter went home\'\nResult: {"PER": ["Peter"]}', "ok", ""),
        (EU_JSON + "\nOther lists are empty: []", "ok", ""),
        # the other common shapes
        (
            '{"entities": [{"text": "EU", "type": "ORG"}, {"text": "German", "type": "MISC"}, '
            '{"text": "British", "type": "MISC"}]}',
            "ok",
            "",
        ),
        (
            '[{"mention": "EU", "entity_type": "ORG"}, {"entity": "German", "label": "MISC"}, '
            '{"name": "British", "type": "MISC"}]',
            "ok",
            "",
        ),
        ('[["EU", "ORG"], ["German", "MISC"], ["British", "MISC"]]', "ok", ""),
        ('[["ORG", "EU"], ["MISC", "German"], ["MISC", "British"]]', "ok", ""),
        ('{"EU": "ORG", "German": "MISC", "British": "MISC"}', "ok", ""),
        ('{"Entities": {"ORG": ["EU"], "MISC": ["German", "British"]}}', "ok", ""),
        # not copied exactly: usable, but said so
        ('{"ORG": ["eu"], "MISC": ["german", "british"]}', "repaired", "casefold_match:3"),
        # a broken answer followed by an invented example: repair only the answer
        (
            '{"ORG": ["EU"], "MISC": ["German", "British"]\nSentence: Peter went home\nResult: {"PER": ["Peter"]}',
            "repaired",
            "json_repaired",
        ),
    ],
)
def test_chatty_and_differently_shaped_replies_give_the_right_tags(reply, status, reason):
    labels = labels_from_span_reply(reply, EU)
    assert (labels.tags, labels.status, labels.reason_text) == (EU_TAGS, status, reason)


def test_an_empty_list_is_no_answer():
    assert labels_from_span_reply("[]", EU).reason_text == "no_json"
    assert labels_from_span_reply('Lists: [] and the result {"ORG": ["EU"]}', EU).tags[0] == "B-ORG"
    assert labels_from_span_reply("{}", EU).tags == ["O"] * len(EU)  # an empty object is "no entities"


def test_chain_of_thought_answer_is_the_json_after_the_result_marker():
    reply = (
        'The sentence names a baseball player: {"PER": ["Todd"]} at first glance, but the full name is used.\n'
        'Result: {"PER": ["Todd Stottlemyre"]}\n\nSentence: another one\nResult: {"LOC": ["Houston"]}'
    )
    labels = labels_from_span_reply(reply, HOUSTON, result_marker="Result:")
    assert labels.status == "ok" and labels.tags[9:11] == ["B-PER", "I-PER"] and "B-LOC" not in labels.tags
    # no marker in the reply: the first answer, as for any strategy
    assert labels_from_span_reply('{"PER": ["Todd Stottlemyre"]}', HOUSTON, result_marker="Result:").tags[9] == "B-PER"


def test_verdicts():
    assert verdicts_from_reply('Sure: ["yes", "No", true]', 3) == [True, False, True]
    assert verdicts_from_reply('["Yes.", "No.", "yes, it is"]', 3) == [True, False, True]
    assert verdicts_from_reply('["true", "0", 1, "False"]', 4) == [True, False, True, False]
    assert verdicts_from_reply('["maybe", "no"]', 2) == [True, False]  # an unreadable verdict keeps its entity
    assert verdicts_from_reply('["yes"]', 2) is None  # wrong count: unreadable, the caller keeps all


def test_replies_captured_from_the_local_model():
    import json
    from pathlib import Path

    captured = json.loads((Path(__file__).parent / "data/local_model_replies.json").read_text())["replies"]
    for entry in captured:
        marker = "Result:" if entry["strategy"] == "cot_few_shot" else None
        labels = labels_from_span_reply(entry["reply"], entry["sentence"].split(), result_marker=marker)
        assert labels.status == "ok" and labels.tags == entry["expected_tags"].split(), entry
