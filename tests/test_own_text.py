"""The own_text route's core (llm_ner.own_text): sentences cut to fit the encoder, the parts drawn
once, what people labelled read back (a stop while tasks wait), and how the figures are counted.
The whole route through kedro run, Label Studio and the fake LLM: tests/pipelines/test_own_text.py."""

from __future__ import annotations

import pandas as pd
import pytest

from llm_ner.costs import ExpertRate
from llm_ner.documents import read_documents, segment
from llm_ner.inference import fitting_parts
from llm_ner.label_studio import tasks_for
from llm_ner.metrics import Bootstrap
from llm_ner.model import Tagger
from llm_ner.model.config import TaggerConfig
from llm_ner.own_text import (
    AnnotationsPending,
    draw_parts,
    evaluation_documents,
    fit_to_encoder,
    gold_consumed,
    llm_f1,
    people_labels,
)
from llm_ner.tags import CONLL_2003

TEXT = (
    "Anna Berg met Karl Ode in Bergen on Monday. Oslo agreed!\n\n"
    'Maria went to Tromsø -- "quickly" -- then home.\n\n'
    "Jonas listed " + ", ".join(f"Port{i} in Region{i}" for i in range(30)) + ".\n"
)


@pytest.fixture
def sentences(tmp_path) -> pd.DataFrame:
    (tmp_path / "report.txt").write_text(TEXT, encoding="utf-8")
    return segment(read_documents(tmp_path))


def test_a_sentence_too_long_for_the_encoder_is_cut_into_parts_that_keep_every_word_at_its_characters(
    sentences, tiny_tagger_config
):
    config = TaggerConfig(**{**tiny_tagger_config.__dict__, "max_subwords": 48})
    tagger = Tagger.build(config, seed=0)
    route = fit_to_encoder(sentences, lambda token_lists: fitting_parts(tagger, token_lists))

    assert list(route["sentence_id"]) == list(range(len(route)))
    assert (route["status"] == "split").sum() >= 2 and (route["status"] == "ok").sum() == 3
    assert [t for tokens in route["tokens"] for t in tokens] == [t for tokens in sentences["tokens"] for t in tokens]
    for row in route.itertuples():
        assert TEXT[row.start : row.end] == row.text
        assert all(TEXT[s:e] == t for t, s, e in zip(row.tokens, row.token_starts, row.token_ends))
    encoded = tagger.encode([list(t) for t in route["tokens"]])
    assert all(len(e.word_starts) == e.n_words for e in encoded)  # every part fits


def test_the_parts_are_disjoint_seeded_and_sized_as_configured():
    table = pd.DataFrame({"sentence_id": range(40)})
    parts = draw_parts(table, evaluation_size=10, labeller_size=5, seed=3)
    assert parts["part"].value_counts().to_dict() == {"pool": 25, "evaluation": 10, "labeller": 5}
    assert parts.equals(draw_parts(table, 10, 5, seed=3))
    assert not parts["part"].equals(draw_parts(table, 10, 5, seed=4)["part"])
    with pytest.raises(ValueError, match=r"own_text.evaluation.size \(30\) \+ own_text.labeller_set.size \(10\)"):
        draw_parts(table, 30, 10, seed=3)


def _export(tasks: list[dict], done: dict[int, dict]) -> list[dict]:
    """A Label Studio JSON export of ``tasks``, ``done[i]`` the annotation of task i (if any)."""
    return [
        {"id": i + 1, "data": task["data"], "annotations": [done[i]] if i in done else []}
        for i, task in enumerate(tasks)
    ]


def _first_word_as(label: str, task: dict, seconds: float, cancelled: bool = False) -> dict:
    start, end = task["data"]["token_starts"][0], task["data"]["token_ends"][0]
    value = {"start": start, "end": end, "text": task["data"]["text"][start:end], "labels": [label]}
    region = {"id": "r", "from_name": "label", "to_name": "text", "type": "labels", "value": value}
    return {"id": 1, "result": [region], "lead_time": seconds, "was_cancelled": cancelled, "created_at": "t"}


def test_people_labels_stop_the_run_while_tasks_wait_and_a_skipped_task_counts_as_done(sentences):
    sentences = sentences.head(3).assign(part="evaluation")
    tasks = tasks_for(sentences, split="evaluation")
    assert tasks[1]["data"]["text"] == sentences["text"][1] and tasks[1]["data"]["offset"] == sentences["start"][1]

    partly = _export(tasks, {0: _first_word_as("PER", tasks[0], 5.0)})
    with pytest.raises(AnnotationsPending, match=r"^2 of 3 tasks wait in Label Studio project 'evaluation'"):
        people_labels(partly, sentences, CONLL_2003, "first", "evaluation")

    done = {0: _first_word_as("PER", tasks[0], 5.0), 1: _first_word_as("LOC", tasks[1], 3.0)}
    done[2] = _first_word_as("PER", tasks[2], 7.0, cancelled=True)
    people = people_labels(_export(tasks, done), sentences, CONLL_2003, "first", "evaluation")
    assert list(people["status"]) == ["labelled", "labelled", "cancelled"]
    assert people["expert_tags"][0][:2] == ["B-PER", "O"] and people["expert_tags"][1][0] == "B-LOC"

    gold = gold_consumed({"evaluation": people}, sentences, ExpertRate(usd_per_hour=36.0, tokens_per_hour=1000))
    row = gold.iloc[0]
    assert (row["sentences"], row["skipped"], row["seconds"]) == (2, 1, 15.0)  # the skipped task was paid for
    assert row["usd"] == pytest.approx(15.0 / 3600 * 36.0)


def test_a_sentence_the_llm_failed_on_counts_as_one_with_no_entity_not_as_left_out():
    people = pd.DataFrame(
        {
            "sentence_id": [0, 1],
            "status": ["labelled", "labelled"],
            "expert_tags": [["B-PER", "O"], ["B-LOC", "O"]],
        }
    )
    both = pd.DataFrame({"sentence_id": [0, 1], "llm_tags": [["B-PER", "O"], ["B-LOC", "O"]]})
    one_failed = both.iloc[:1]
    bootstrap = Bootstrap(resamples=200)
    assert llm_f1(people, both, bootstrap).value == 1.0
    assert llm_f1(people, one_failed, bootstrap).value == pytest.approx(2 / 3)  # recall 1/2, precision 1


def test_an_evaluation_set_of_whole_documents_shares_no_document_with_the_rest():
    table = pd.DataFrame({"sentence_id": range(30), "document_id": [f"d{i // 5}" for i in range(30)]})  # 6 x 5
    chosen = evaluation_documents(table, size=8, seed=1)
    assert len(chosen) == 10  # two whole documents: the first that reach 8 sentences
    parts = draw_parts(table, 8, 4, seed=1, evaluation=chosen)
    evaluation_documents_ = set(parts.loc[parts["part"] == "evaluation", "document_id"])
    assert len(evaluation_documents_) == 2
    assert not evaluation_documents_ & set(parts.loc[parts["part"] != "evaluation", "document_id"])
    assert (parts["part"] == "labeller").sum() == 4 and chosen == evaluation_documents(table, 8, seed=1)
