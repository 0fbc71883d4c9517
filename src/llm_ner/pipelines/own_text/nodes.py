"""Thin nodes of the own-text route (docs/own_text.md); the work is in :mod:`llm_ner.own_text`,
:mod:`llm_ner.label_studio`, :mod:`llm_ner.interchange` and the study's own LLM and student code.

What people label comes back through one node per set (:func:`collect_people_labels`), each a
stop (:class:`llm_ner.own_text.AnnotationsPending`) until they have labelled all of it."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import pandas as pd

from llm_ner.costs import CostModel
from llm_ner.documents import document_counts, segment
from llm_ner.grid import Cell, GridSettings
from llm_ner.inference import fitting_parts
from llm_ner.interchange import conll_text, read_span_jsonl, span_records, tags_from_span_records
from llm_ner.label_studio import annotations_so_far, connect, labeling_config, tasks_for
from llm_ner.llm.costs import MONEY_FIELDS
from llm_ner.llm.quality import choose_best
from llm_ner.llm.settings import LLMSettings
from llm_ner.metrics import Bootstrap
from llm_ner.mixed import LABEL_QUALITY, SELECTIONS, out_of_fold_label_quality, regimen_designs
from llm_ner.model import Tagger, labelled_sentences
from llm_ner.model.prediction import predict_tags, probabilities_to_tags
from llm_ner.own_text import (
    GOLD_PURPOSES,
    PARTS,
    PEOPLE_COLUMNS,
    AnnotationsPending,
    draw_parts,
    f1_interval,
    fit_to_encoder,
    gold_consumed,
    llm_f1,
    part_of,
    people_labels,
    student_summary,
    with_people_tags,
)
from llm_ner.parameters import EntityTypes, OwnTextParams
from llm_ner.pipelines.llm_annotation.nodes import evaluate_markup_quality, label_training_pool
from llm_ner.report.own_text import route_page
from llm_ner.students import Protocol, Student, StudentParams, train_student

logger = logging.getLogger(__name__)

# the study's answer at about 1,000 gold sentences (docs/mixed_annotation.md): LLM labels, then people's
RECOMMENDED, PEOPLE_ONLY = "D_llm_then_gold", "A_gold"


def cut_sentences(
    documents: pd.DataFrame, own_text: OwnTextParams, student: StudentParams, entity_types: EntityTypes
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The documents' sentences, each cut to fit the student's encoder (status ``split``), and each
    document's sentences, tokens and status (``empty``: no sentence, kept in the counts)."""
    logger.info(
        "own_text: no gold in this route -- simulated experts, gold-vs-LLM comparisons and markup F1 against "
        "CoNLL are skipped; every F1 is measured on the evaluation set people label"
    )
    sentences = segment(documents, own_text.segmenter)
    tagger = Tagger.build(Protocol.of(student, entity_types.schema).tagger, seed=0, labels=entity_types.schema.labels)
    route = fit_to_encoder(sentences, lambda token_lists: fitting_parts(tagger, token_lists))
    counts = document_counts(documents, sentences)
    logger.info(
        "own_text: %d documents (%d empty), %d sentences (%d parts of sentences too long for the encoder)",
        len(counts),
        int((counts["status"] == "empty").sum()),
        len(route),
        int((route["status"] == "split").sum()),
    )
    return route, counts


def choose_parts(sentences: pd.DataFrame, own_text: OwnTextParams) -> pd.DataFrame:
    """Every sentence's part: ``evaluation``, ``labeller`` or ``pool`` (seeded, disjoint)."""
    parts = draw_parts(sentences, own_text.evaluation.size, own_text.labeller_set.size, own_text.seed)
    logger.info("own_text parts: %s", parts["part"].value_counts().to_dict())
    return parts


def people_tasks(sentences: pd.DataFrame) -> list[dict]:
    """One Label Studio task per sentence, as written, the LLM's labels pre-filled where the
    sentences carry them (``llm_tags``: the budget). Saved before anything is asked of people, so
    they can also be imported by hand."""
    return tasks_for(sentences, split=str(sentences["part"].iloc[0])) if len(sentences) else []


def collect_people_labels(
    tasks: list[dict],
    sentences: pd.DataFrame,
    project: str,
    own_text: OwnTextParams,
    entity_types: EntityTypes,
    credentials: dict[str, Any],
) -> pd.DataFrame:
    """What people made of ``tasks`` in Label Studio ``project`` (the tasks it lacks are imported
    first); a stop until every task is submitted or skipped."""
    if not tasks:
        return pd.DataFrame(columns=list(PEOPLE_COLUMNS))
    credentials = credentials or {}
    if connect(credentials) is None:
        raise AnnotationsPending(
            f"{len(tasks)} tasks for Label Studio project {project!r} and no server configured: set credentials "
            "label_studio.url / api_key (or $LABEL_STUDIO_URL / $LABEL_STUDIO_API_KEY), then run again"
        )
    export = annotations_so_far(credentials, project, labeling_config(entity_types.schema), None, tasks)
    return people_labels(export, sentences, entity_types.schema, own_text.rule, project)


def evaluation_tasks(parts: pd.DataFrame, own_text: OwnTextParams) -> list[dict]:
    """The evaluation set's tasks, with nothing pre-filled (so people do not see the LLM's answer);
    none when its gold is imported from a file."""
    return [] if own_text.evaluation.import_path else people_tasks(part_of(parts, "evaluation"))


def evaluation_labels(
    tasks: list[dict],
    parts: pd.DataFrame,
    own_text: OwnTextParams,
    entity_types: EntityTypes,
    credentials: dict[str, Any],
) -> pd.DataFrame:
    """The evaluation set as people labelled it -- or imported from a spaCy/Prodigy span JSONL
    file (``own_text.evaluation.import_path``)."""
    path = own_text.evaluation.import_path
    if path:
        gold = tags_from_span_records(read_span_jsonl(path), parts, entity_types.schema, path)
        gold = gold.rename(columns={"gold_tags": "expert_tags"})
        return gold.assign(status="labelled", annotators=1, lead_time_s=float("nan"))[list(PEOPLE_COLUMNS)]
    sentences = part_of(parts, "evaluation")
    return collect_people_labels(tasks, sentences, own_text.evaluation.project, own_text, entity_types, credentials)


def labeller_tasks(parts: pd.DataFrame, evaluation: pd.DataFrame) -> list[dict]:
    """The labeller set's tasks, asked for only once the evaluation set is in (``evaluation``
    orders the steps)."""
    del evaluation
    return people_tasks(part_of(parts, "labeller"))


def labeller_labels(
    tasks: list[dict],
    parts: pd.DataFrame,
    own_text: OwnTextParams,
    entity_types: EntityTypes,
    credentials: dict[str, Any],
) -> pd.DataFrame:
    sentences = part_of(parts, "labeller")
    return collect_people_labels(tasks, sentences, own_text.labeller_set.project, own_text, entity_types, credentials)


def _demonstration_pool(parts: pd.DataFrame, labeller: pd.DataFrame) -> pd.DataFrame:
    """The labeller set with the people's tags as the demonstrations' gold (``ner_tags``)."""
    return with_people_tags(part_of(parts, "labeller"), labeller, column="ner_tags")


def choose_own_labeller(
    parts: pd.DataFrame, labeller: pd.DataFrame, settings: LLMSettings
) -> tuple[pd.DataFrame, dict[str, str], LLMSettings]:
    """With a labeller set: every ``llm_annotation.evaluate`` pair scored on it (each sentence's
    demonstrations are the set's other sentences), and the labeller chosen as configured. Without
    one: the configured labeller, which must then need no demonstrations."""
    pool = _demonstration_pool(parts, labeller)
    if pool.empty:
        quality = pd.DataFrame()
        if settings.annotation.labeller == "best":
            raise ValueError(
                "own_text: llm_annotation.labeller is 'best' but there is no labeller set to choose on "
                "(own_text.labeller_set.size is 0): pin {strategy: ..., model: ...}"
            )
    else:
        quality, _, _ = evaluate_markup_quality(pool, pool, pd.DataFrame(), settings)
    chosen = choose_best(quality, settings.annotation.labeller)
    pinned = {"strategy": chosen["strategy"], "model": chosen["model"]}
    logger.info("own_text labeller: %s x %s (%s)", chosen["strategy"], chosen["model"], chosen["chosen_by"])
    annotation = dataclasses.replace(settings.annotation, labeller=pinned)
    return quality, chosen, dataclasses.replace(settings, annotation=annotation)


def label_with_llm(
    parts: pd.DataFrame, labeller: pd.DataFrame, settings: LLMSettings
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The LLM's labels of the pool and of the evaluation set (to score the LLM there: the
    evaluation set is a query, never a demonstration), and their money."""
    queries = parts[parts["part"].isin(["pool", "evaluation"])].reset_index(drop=True)
    labels, spend = label_training_pool(queries, _demonstration_pool(parts, labeller), queries, settings)
    # the sentence's place (part, text, offsets) from the parts table; ``status`` is the LLM's
    placed = labels.drop(columns=["document_id", "tokens"]).merge(parts.drop(columns="status"), on="sentence_id")
    return placed, spend


def choose_budget(
    llm_labels: pd.DataFrame,
    own_text: OwnTextParams,
    student: StudentParams,
    entity_types: EntityTypes,
    grid: GridSettings,
) -> pd.DataFrame:
    """The pool sentences people should correct, in the strategy's order (least sure first)."""
    budget = own_text.budget
    pool = part_of(llm_labels, "pool")
    selection = SELECTIONS[budget.strategy]
    if selection.ranked_by == LABEL_QUALITY:
        protocol = Protocol.of(student, entity_types.schema)
        quality = out_of_fold_label_quality(pool, budget.label_quality_folds, own_text.seed, protocol, grid.grid())
        pool = pool.join(quality, on="sentence_id")
    chosen = selection(pool, min(budget.size, len(pool)), own_text.seed)
    if selection.ranked_by is not None:
        chosen = chosen.sort_values(selection.ranked_by, kind="stable", na_position="first")
    logger.info("own_text budget: %d of %d pool sentences chosen by %s", len(chosen), len(pool), budget.strategy)
    return chosen.reset_index(drop=True).assign(part="budget")


def budget_labels(
    tasks: list[dict],
    selection: pd.DataFrame,
    own_text: OwnTextParams,
    entity_types: EntityTypes,
    credentials: dict[str, Any],
) -> pd.DataFrame:
    """The budget's sentences as people corrected them."""
    return collect_people_labels(tasks, selection, own_text.budget.project, own_text, entity_types, credentials)


def _training_sets(
    llm_labels: pd.DataFrame, parts: pd.DataFrame, labeller: pd.DataFrame, budget: pd.DataFrame
) -> dict[str, list]:
    """``llm``: the pool's LLM labels, less the sentences people corrected; ``gold``: every
    sentence people labelled for training (labeller set and budget). Never the evaluation set."""
    people = pd.concat([with_people_tags(part_of(parts, "labeller"), labeller), with_people_tags(parts, budget)])
    pool = part_of(llm_labels, "pool")
    llm = pool[~pool["sentence_id"].isin(people["sentence_id"]) & pool["llm_tags"].notna()]
    return {"llm": labelled_sentences(llm, "llm_tags"), "gold": labelled_sentences(people, "expert_tags")}


def train_students(
    llm_labels: pd.DataFrame,
    parts: pd.DataFrame,
    labeller: pd.DataFrame,
    budget: pd.DataFrame,
    evaluation: pd.DataFrame,
    own_text: OwnTextParams,
    student: StudentParams,
    entity_types: EntityTypes,
    grid: GridSettings,
) -> tuple[pd.DataFrame, Tagger]:
    """Regimen D (LLM labels, then people's) and the people's labels alone, a student per seed,
    each scored on the evaluation set with a bootstrap interval; and the recommended model (the
    first seed's regimen-D student). No early stopping: the protocol's epochs, nothing chosen on
    held-out labels."""
    protocol = Protocol.of(student, entity_types.schema)
    sets = _training_sets(llm_labels, parts, labeller, budget)
    if not sets["gold"]:
        raise ValueError("own_text: people labelled no sentence for training (labeller set and budget both empty)")
    held_out = with_people_tags(part_of(parts, "evaluation"), evaluation)
    words = tuple(tuple(t) for t in held_out["tokens"])
    designs = regimen_designs(sets, [RECOMMENDED, PEOPLE_ONLY])
    cells = [
        Cell({"regimen": name, "seed": seed}, Student(protocol, design(seed), seed, predict=words))
        for name, design in designs.items()
        for seed in own_text.seeds
    ]
    rows = []
    for cell, output in zip(cells, grid.grid().run("own_text", cells)):
        predicted = probabilities_to_tags(output.artifacts["probabilities"], protocol.labels)
        interval = f1_interval(list(held_out["expert_tags"]), predicted, Bootstrap())
        rows.append({**cell.ids, "f1": interval.value, "f1_low": interval.low, "f1_high": interval.high})
    runs = pd.DataFrame(rows).assign(
        llm_sentences=lambda t: t["regimen"].map({RECOMMENDED: len(sets["llm"]), PEOPLE_ONLY: 0}),
        people_sentences=len(sets["gold"]),
        evaluation_sentences=len(held_out),
    )
    logger.info("own_text students on the evaluation set:\n%s", runs.to_string())
    model = train_student(Student(protocol, designs[RECOMMENDED](own_text.seeds[0]), own_text.seeds[0]))
    return runs, model


def export_labels(
    parts: pd.DataFrame,
    llm_labels: pd.DataFrame,
    evaluation: pd.DataFrame,
    labeller: pd.DataFrame,
    budget: pd.DataFrame,
    model: Tagger,
) -> dict[str, pd.DataFrame | str]:
    """The pool's LLM labels, the people's labels (every set, ``meta.part`` says which) and the
    model's predictions (every sentence) as spaCy/Prodigy span JSONL and as CoNLL."""
    pool = part_of(llm_labels, "pool").dropna(subset=["llm_tags"])
    people = {"evaluation": evaluation, "labeller": labeller, "budget": budget}
    by_people = pd.concat(
        [with_people_tags(parts, labels).assign(part=name) for name, labels in people.items() if len(labels)],
        ignore_index=True,
    ).sort_values("sentence_id", kind="stable")
    tables = {
        "llm": (pool, list(pool["llm_tags"])),
        "people": (by_people, list(by_people["expert_tags"])),
        "model": (parts, predict_tags(model, [list(t) for t in parts["tokens"]])),
    }
    exports: dict[str, pd.DataFrame | str] = {}
    for name, (sentences, tags) in tables.items():
        records = span_records(sentences.reset_index(drop=True), tags, {"labels": name})
        for record, part in zip(records, sentences["part"]):
            record["meta"]["part"] = part
        exports[f"{name}_jsonl"] = pd.DataFrame(records)
        exports[f"{name}_conll"] = conll_text(sentences.reset_index(drop=True), tags)
    return exports


def summarise_route(
    counts: pd.DataFrame,
    parts: pd.DataFrame,
    evaluation: pd.DataFrame,
    labeller: pd.DataFrame,
    budget: pd.DataFrame,
    llm_labels: pd.DataFrame,
    llm_spend: dict[str, Any],
    labeller_quality: pd.DataFrame,
    runs: pd.DataFrame,
    own_text: OwnTextParams,
    cost_model: CostModel,
) -> tuple[dict[str, Any], str]:
    """The route's figures (JSON) and its page: F1 with intervals, costs, gold by purpose, counts."""
    bootstrap = Bootstrap()
    people = {"evaluation": evaluation, "labeller": labeller, "budget": budget}
    llm = llm_f1(evaluation, part_of(llm_labels, "evaluation"), bootstrap)
    recommended = runs[(runs["regimen"] == RECOMMENDED) & (runs["seed"] == own_text.seeds[0])].iloc[0]
    gold = gold_consumed(people, parts, cost_model.expert)
    choice_usd = float(labeller_quality["label_cost_usd"].sum()) if len(labeller_quality) else 0.0
    summary = {
        "documents": own_text.documents,
        "labeller": f"{llm_spend['strategy']} x {llm_spend['model']}",
        "evaluation_sentences": int(gold.loc[gold["purpose"] == GOLD_PURPOSES["evaluation"], "sentences"].iloc[0]),
        "bootstrap_resamples": bootstrap.resamples,
        "seeds": len(own_text.seeds),
        "quality": [
            {"labels": "LLM", "f1": llm.value, "f1_low": llm.low, "f1_high": llm.high},
            {"labels": "model", **{k: float(recommended[k]) for k in ("f1", "f1_low", "f1_high")}},
        ],
        "llm_cost": {**{k: llm_spend[k] for k in MONEY_FIELDS}, "choice_usd": choice_usd},
        "people_seconds": float(gold["seconds"].sum()),
        "people_usd": float(gold["usd"].sum()),
        "usd_per_hour": cost_model.expert.usd_per_hour,
        "gold": gold.to_dict("records"),
        "counts": {
            "documents": len(counts),
            "empty_documents": int((counts["status"] == "empty").sum()),
            "sentences": len(parts),
            "split_parts": int((parts["status"] == "split").sum()),
            **{f"{part}_sentences": int((parts["part"] == part).sum()) for part in PARTS},
            "llm_failed": int((llm_labels["status"] == "failed").sum()),
        },
    }
    logger.info("own_text: LLM F1 %s, model F1 %s", llm, summary["quality"][1])
    return summary, route_page(summary, student_summary(runs), gold)
