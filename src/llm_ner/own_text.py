"""Your own text in, a tagger you can trust out: the labelling route with no gold anywhere.

The study measures everything against CoNLL's gold; a team with a folder of its own documents has
none. This route (pipeline ``own_text``, docs/own_text.md) gets from people, in Label Studio, only
what it needs, in this order:

1. an **evaluation set** -- a seeded random sample of the sentences, labelled first, from nothing
   (no LLM pre-fill, so the LLM is not marked by its own answers); kept apart: never trained on,
   never a demonstration, never used to choose anything. Every F1 of the route is measured on it,
   with a 95 % bootstrap interval over its sentences;
2. optionally a **labeller set** (disjoint): the labeller's demonstrations and, with
   ``llm_annotation.labeller: best``, the sentences that choose the labeller;
3. the **expert budget**: the pool sentences a strategy picks, pre-filled with the LLM's labels,
   corrected by people.

A step whose annotations are not all in stops the run (:class:`AnnotationsPending`: one line, exit
non-zero); the next run carries on from there. Kedro-free: the nodes are in
``pipelines/own_text``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence

import numpy as np
import pandas as pd

from .costs import ExpertRate
from .documents import SENTENCE_COLUMNS, Token
from .grid import summarise
from .label_studio import LabelStudioError, read_export
from .metrics import NO_INTERVAL, Bootstrap, Interval, bootstrap_f1
from .tags import LabelSchema

PARTS = ("evaluation", "labeller", "pool")
# what the evaluation set samples: sentences (any sentence of any document), or whole documents --
# the estimate for documents the model has never seen a sentence of (names repeat within one)
EVALUATION_UNITS = ("sentences", "documents")
# what each part's gold is for, as the report counts it
GOLD_PURPOSES = {"evaluation": "evaluation (never trained on)", "labeller": "labeller", "budget": "expert budget"}
ROUTE_SENTENCE_COLUMNS = (*SENTENCE_COLUMNS, "status")
PEOPLE_COLUMNS = ("sentence_id", "status", "expert_tags", "annotators", "lead_time_s", "repaired")


class AnnotationsPending(LabelStudioError):
    """People have not labelled everything this step needs yet: the run stops (one line) and the
    next run, after they have, carries on."""


# --- sentences ------------------------------------------------------------------------------------


def fit_to_encoder(
    sentences: pd.DataFrame, parts_of: Callable[[list[list[Token]]], list[list[list[Token]]]]
) -> pd.DataFrame:
    """The sentence table with every sentence longer than the encoder's limit cut into consecutive
    parts that fit (``parts_of``: :func:`llm_ner.inference.fitting_parts`), each part a sentence
    of its own with ``status`` ``split`` (the others ``ok``): no word is truncated or dropped.
    Sentence ids are renumbered 0..n-1 in document order."""
    token_lists = [
        [Token(*t) for t in zip(row.tokens, row.token_starts, row.token_ends)] for row in sentences.itertuples()
    ]
    rows = []
    for row, parts in zip(sentences.itertuples(), parts_of(token_lists)):
        document_text = row.text
        for part in parts:
            start, end = part[0].start, part[-1].end
            rows.append(
                {
                    "sentence_id": len(rows),
                    "document_id": row.document_id,
                    # the part's text, sliced out of the sentence's (offsets are the document's)
                    "text": document_text[start - row.start : end - row.start],
                    "start": start,
                    "end": end,
                    "tokens": [t.text for t in part],
                    "token_starts": [t.start for t in part],
                    "token_ends": [t.end for t in part],
                    "status": "split" if len(parts) > 1 else "ok",
                }
            )
    return pd.DataFrame(rows, columns=list(ROUTE_SENTENCE_COLUMNS))


def draw_parts(
    sentences: pd.DataFrame,
    evaluation_size: int,
    labeller_size: int,
    seed: int,
    evaluation: Collection[int] | None = None,
) -> pd.DataFrame:
    """The sentences with their ``part`` (:data:`PARTS`), drawn once from a seeded permutation: the
    first ``evaluation_size`` are the evaluation set, the next ``labeller_size`` the labeller set,
    the rest the pool. The same seed and sentences give the same parts on every run. Given
    ``evaluation`` (the sentence ids of gold imported from a file), those are the evaluation set
    and the labeller set is drawn from the others."""
    fixed = sentences["sentence_id"].isin(evaluation) if evaluation is not None else None
    evaluation_size = int(fixed.sum()) if fixed is not None else evaluation_size
    if len(sentences) < evaluation_size + labeller_size + 1:
        raise ValueError(
            f"own_text: {len(sentences)} sentences, but own_text.evaluation.size ({evaluation_size}) + "
            f"own_text.labeller_set.size ({labeller_size}) leave no pool; lower them or add documents"
        )
    order = np.random.default_rng(seed).permutation(len(sentences))
    if fixed is not None:  # the imported sentences first, then the others in the seeded order
        order = np.concatenate([np.flatnonzero(fixed), order[~fixed.to_numpy()[order]]])
    part = np.empty(len(sentences), dtype=object)
    part[order[:evaluation_size]] = "evaluation"
    part[order[evaluation_size : evaluation_size + labeller_size]] = "labeller"
    part[order[evaluation_size + labeller_size :]] = "pool"
    return sentences.assign(part=part)


def evaluation_documents(sentences: pd.DataFrame, size: int, seed: int) -> list[int]:
    """The sentence ids of whole documents, taken in a seeded order until they hold at least
    ``size`` sentences: an evaluation set that shares no document with training."""
    sentence_ids = sentences.groupby("document_id", sort=False)["sentence_id"].apply(list)
    chosen: list[int] = []
    for i in np.random.default_rng(seed).permutation(len(sentence_ids)):
        if len(chosen) >= size:
            break
        chosen.extend(sentence_ids.iloc[i])
    return chosen


def part_of(sentences: pd.DataFrame, name: str) -> pd.DataFrame:
    return sentences[sentences["part"] == name].reset_index(drop=True)


# --- what people labelled ---------------------------------------------------------------------------


def people_labels(
    export: list[dict], sentences: pd.DataFrame, schema: LabelSchema, rule: str, project: str
) -> pd.DataFrame:
    """The people's tags of ``sentences`` from a Label Studio export of ``project`` (columns
    :data:`PEOPLE_COLUMNS`); :class:`AnnotationsPending` while any task has no submitted or skipped
    annotation. A skipped (cancelled) sentence has status ``cancelled`` and no tags: it is left
    out of what it would have been used for, and counted."""
    annotations = read_export(export, sentences, schema, rule, source=f"Label Studio project {project!r}")
    table = annotations.sentences
    waiting = int(table["status"].isin(["unlabelled", "missing"]).sum())
    if waiting:
        raise AnnotationsPending(
            f"{waiting} of {len(table)} tasks wait in Label Studio project {project!r}: label (or skip) them, "
            f"then run the pipeline again"
        )
    return table[list(PEOPLE_COLUMNS)]


def people_of(people: pd.DataFrame, name: str) -> pd.DataFrame:
    """One set's rows of everything people labelled (``set``: evaluation, labeller, budget)."""
    return people[people["set"] == name].reset_index(drop=True)


def labelled(people: pd.DataFrame) -> pd.DataFrame:
    return people[people["status"] == "labelled"].reset_index(drop=True)


def with_people_tags(sentences: pd.DataFrame, people: pd.DataFrame, column: str = "expert_tags") -> pd.DataFrame:
    """The sentences people labelled (not those they skipped), with their tags as ``column``."""
    tags = labelled(people)[["sentence_id", "expert_tags"]].rename(columns={"expert_tags": column})
    return sentences.merge(tags, on="sentence_id")


# --- how good, and at what price ------------------------------------------------------------------


def f1_interval(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]], bootstrap: Bootstrap) -> Interval:
    """Micro entity F1 on the evaluation set with its percentile bootstrap interval."""
    return bootstrap_f1([list(g) for g in gold], [list(p) for p in predicted], bootstrap) if len(gold) else NO_INTERVAL


def people_seconds(people: pd.DataFrame) -> float:
    """Every second people spent on a set, skipped tasks included (they were paid for)."""
    return float(people["lead_time_s"].fillna(0).sum()) if len(people) else 0.0


def llm_f1(evaluation: pd.DataFrame, llm_labels: pd.DataFrame, bootstrap: Bootstrap = Bootstrap()) -> Interval:
    """The LLM labels' F1 on the evaluation set; a sentence whose reply was unusable counts as
    one with no entity (what the labels would have said), not as left out."""
    people = labelled(evaluation)
    llm = dict(zip(llm_labels["sentence_id"], llm_labels["llm_tags"]))
    predicted = [
        list(llm[i]) if llm.get(i) is not None else ["O"] * len(tags)
        for i, tags in zip(people["sentence_id"], people["expert_tags"])
    ]
    return f1_interval(list(people["expert_tags"]), predicted, bootstrap)


def gold_consumed(people_sets: Mapping[str, pd.DataFrame], sentences: pd.DataFrame, expert: ExpertRate) -> pd.DataFrame:
    """Per purpose (:data:`GOLD_PURPOSES`): sentences people labelled and skipped, their tokens,
    the seconds Label Studio measured (skips included) and what that time cost at the expert's
    hourly rate; ``untimed`` labelled sentences (an imported file) have no time to charge."""
    tokens = dict(zip(sentences["sentence_id"], sentences["tokens"].map(len)))
    rows = []
    for name, people in people_sets.items():
        done = labelled(people)
        seconds = people_seconds(people)
        rows.append(
            {
                "purpose": GOLD_PURPOSES[name],
                "sentences": len(done),
                "tokens": int(sum(tokens[i] for i in done["sentence_id"])),
                "skipped": int((people["status"] == "cancelled").sum()) if len(people) else 0,
                "untimed": int(done["lead_time_s"].isna().sum()) if len(done) else 0,
                "seconds": seconds,
                "usd": expert.usd_for_time(seconds),
            }
        )
    return pd.DataFrame(rows)


def student_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and std of the students' evaluation F1 over seeds, per regimen."""
    return summarise(runs, ["regimen"], "seed", ["f1"], constants={"llm_sentences": "max", "people_sentences": "max"})
