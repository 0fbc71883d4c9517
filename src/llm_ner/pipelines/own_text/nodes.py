"""Thin nodes of the own-text route (docs/own_text.md); the work is in :mod:`llm_ner.own_text`,
:mod:`llm_ner.label_studio`, :mod:`llm_ner.interchange` and the study's own LLM and student code.

What people label comes back through one node per set (:func:`collect_people_labels`), each a
stop (:class:`llm_ner.own_text.AnnotationsPending`) until they have labelled all of it."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

import pandas as pd

from llm_ner.costs import CostModel
from llm_ner.documents import document_counts, segment
from llm_ner.grid import Cell, Grid, GridSettings
from llm_ner.inference import fitting_parts
from llm_ner.interchange import conll_text, read_span_jsonl, span_records, tags_from_span_records
from llm_ner.label_studio import annotations_so_far, connect, labeling_config, tasks_for
from llm_ner.llm.costs import MONEY_FIELDS
from llm_ner.llm.quality import apply_failed_policy, choose_best
from llm_ner.llm.settings import LLMSettings
from llm_ner.llm.study import label_with_labeller, score_pairs
from llm_ner.metrics import Bootstrap
from llm_ner.mixed import LABEL_QUALITY, SELECTIONS, out_of_fold_label_quality, regimen_designs
from llm_ner.model import Tagger, labelled_sentences
from llm_ner.model.prediction import predict_tags, probabilities_to_tags
from llm_ner.own_text import (
    PARTS,
    PEOPLE_COLUMNS,
    AnnotationsPending,
    draw_parts,
    evaluation_documents,
    f1_interval,
    fit_to_encoder,
    gold_consumed,
    labelled,
    llm_f1,
    part_of,
    people_labels,
    people_of,
    student_summary,
    with_people_tags,
)
from llm_ner.parameters import EntityTypes, OwnTextParams
from llm_ner.report.own_text import route_page
from llm_ner.students import Protocol, Student, StudentParams, train_student
from llm_ner.tags import LabelSchema

logger = logging.getLogger(__name__)

# the study's answer at about 1,000 gold sentences (docs/mixed_annotation.md): LLM labels, then people's
RECOMMENDED, PEOPLE_ONLY = "D_llm_then_gold", "A_gold"


@dataclass(frozen=True)
class RouteSetup:
    """What the route's nodes share: its parameters, the label schema, the students' protocol and
    the grid that trains them (``own_text_setup``, built once per run)."""

    params: OwnTextParams
    schema: LabelSchema
    protocol: Protocol
    grid: Grid


def define_setup(
    own_text: OwnTextParams, student: StudentParams, entity_types: EntityTypes, grid: GridSettings
) -> RouteSetup:
    schema = entity_types.schema
    return RouteSetup(own_text, schema, Protocol.of(student, schema), grid.grid())


def cut_sentences(documents: pd.DataFrame, setup: RouteSetup) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The documents' sentences, each cut to fit the student's encoder (status ``split``), and each
    document's sentences, tokens and status (``empty``: no sentence, kept in the counts)."""
    logger.info(
        "own_text: no gold in this route -- simulated experts, gold-vs-LLM comparisons and markup F1 against "
        "CoNLL are skipped; every F1 is measured on the evaluation set people label"
    )
    sentences = segment(documents, setup.params.segmenter)
    tagger = Tagger.build(setup.protocol.tagger, seed=0, labels=setup.protocol.labels)  # for its tokenizer
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


def _imported_evaluation(sentences: pd.DataFrame, setup: RouteSetup) -> pd.DataFrame | None:
    """The evaluation set's gold from ``own_text.evaluation.import_path`` (spaCy/Prodigy span
    JSONL), matched to the route's sentences; None when people label it in Label Studio."""
    path = setup.params.evaluation.import_path
    if not path:
        return None
    return tags_from_span_records(read_span_jsonl(path), sentences, setup.schema, path)


def choose_parts(sentences: pd.DataFrame, setup: RouteSetup) -> pd.DataFrame:
    """Every sentence's part: ``evaluation``, ``labeller`` or ``pool`` (seeded, disjoint); with
    imported gold, its sentences are the evaluation set; with ``evaluation.unit: documents``, the
    evaluation set is whole documents."""
    params, imported = setup.params, _imported_evaluation(sentences, setup)
    evaluation = None if imported is None else list(imported["sentence_id"])
    if evaluation is None and params.evaluation.unit == "documents":
        evaluation = evaluation_documents(sentences, params.evaluation.size, params.seed)
    parts = draw_parts(sentences, params.evaluation.size, params.labeller_set.size, params.seed, evaluation)
    logger.info("own_text parts: %s", parts["part"].value_counts().to_dict())
    return parts


# --- people ------------------------------------------------------------------------------------------


def people_tasks(sentences: pd.DataFrame) -> list[dict]:
    """One Label Studio task per sentence, as written, the LLM's labels pre-filled where the
    sentences carry them (``llm_tags``: the budget). Saved before anything is asked of people, so
    they can also be imported by hand."""
    return tasks_for(sentences, split=str(sentences["part"].iloc[0])) if len(sentences) else []


def collect_people_labels(
    tasks: list[dict], sentences: pd.DataFrame, project: str, setup: RouteSetup, credentials: dict[str, Any]
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
    export = annotations_so_far(credentials, project, labeling_config(setup.schema), None, tasks)
    return people_labels(export, sentences, setup.schema, setup.params.rule, project)


def evaluation_tasks(parts: pd.DataFrame, setup: RouteSetup) -> list[dict]:
    """The evaluation set's tasks, with nothing pre-filled (so people do not see the LLM's answer);
    none when its gold is imported from a file."""
    return [] if setup.params.evaluation.import_path else people_tasks(part_of(parts, "evaluation"))


def evaluation_labels(
    tasks: list[dict], parts: pd.DataFrame, setup: RouteSetup, credentials: dict[str, Any]
) -> pd.DataFrame:
    """The evaluation set as people labelled it -- or imported from a spaCy/Prodigy span JSONL
    file (``own_text.evaluation.import_path``: its sentences are the set)."""
    imported = _imported_evaluation(parts, setup)
    if imported is not None:  # a file's gold: no time was measured for it
        imported = imported.rename(columns={"gold_tags": "expert_tags"})
        return imported.assign(status="labelled", annotators=1, lead_time_s=float("nan"))[list(PEOPLE_COLUMNS)]
    project = setup.params.evaluation.project
    return collect_people_labels(tasks, part_of(parts, "evaluation"), project, setup, credentials)


def labeller_tasks(parts: pd.DataFrame, evaluation: pd.DataFrame) -> list[dict]:
    """The labeller set's tasks, asked for only once the evaluation set is in (``evaluation``
    orders the steps)."""
    del evaluation
    return people_tasks(part_of(parts, "labeller"))


def labeller_labels(
    tasks: list[dict], parts: pd.DataFrame, setup: RouteSetup, credentials: dict[str, Any]
) -> pd.DataFrame:
    project = setup.params.labeller_set.project
    return collect_people_labels(tasks, part_of(parts, "labeller"), project, setup, credentials)


def budget_labels(
    tasks: list[dict], selection: pd.DataFrame, setup: RouteSetup, credentials: dict[str, Any]
) -> pd.DataFrame:
    """The budget's sentences as people corrected them."""
    return collect_people_labels(tasks, selection, setup.params.budget.project, setup, credentials)


def gather_people_labels(evaluation: pd.DataFrame, labeller: pd.DataFrame, budget: pd.DataFrame) -> pd.DataFrame:
    """Everything people labelled, one row per sentence, ``set`` saying which (``evaluation``,
    ``labeller``, ``budget``)."""
    sets = {"evaluation": evaluation, "labeller": labeller, "budget": budget}
    return pd.concat([table.assign(set=name) for name, table in sets.items()], ignore_index=True)


# --- the LLM --------------------------------------------------------------------------------------------


def _demonstration_pool(parts: pd.DataFrame, labeller: pd.DataFrame) -> pd.DataFrame:
    """The labeller set with the people's tags as the demonstrations' gold (``ner_tags``)."""
    return with_people_tags(part_of(parts, "labeller"), labeller, column="ner_tags")


def choose_own_labeller(
    parts: pd.DataFrame, labeller: pd.DataFrame, settings: LLMSettings
) -> tuple[pd.DataFrame, dict[str, Any], LLMSettings]:
    """With a labeller set: every ``llm_annotation.evaluate`` pair scored on it (each sentence's
    demonstrations are the set's other sentences), and the labeller chosen as configured, with
    what choosing cost. Without one: the configured labeller, which must then need no
    demonstrations."""
    pool = _demonstration_pool(parts, labeller)
    if pool.empty and settings.annotation.labeller == "best":
        raise ValueError(
            "own_text: llm_annotation.labeller is 'best' but there is no labeller set to choose on "
            "(own_text.labeller_set.size is 0): pin {strategy: ..., model: ...}"
        )
    quality = pd.DataFrame(score_pairs(settings, pool, pool)[0] if len(pool) else [])
    chosen = choose_best(quality, settings.annotation.labeller)
    pinned = {"strategy": chosen["strategy"], "model": chosen["model"]}
    logger.info("own_text labeller: %s x %s (%s)", chosen["strategy"], chosen["model"], chosen["chosen_by"])
    chosen["choice_usd"] = float(quality["label_cost_usd"].sum()) if len(quality) else 0.0
    annotation = dataclasses.replace(settings.annotation, labeller=pinned)
    return quality, chosen, dataclasses.replace(settings, annotation=annotation)


def label_with_llm(
    parts: pd.DataFrame, labeller: pd.DataFrame, settings: LLMSettings
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The LLM's labels of the pool and of the evaluation set (to score the LLM there: the
    evaluation set is a query, never a demonstration), and their money."""
    queries = parts[parts["part"].isin(["pool", "evaluation"])].reset_index(drop=True)
    labels, spend = label_with_labeller(settings, queries, _demonstration_pool(parts, labeller))
    # a sentence whose reply was unusable: dropped or all-O (llm_annotation.failed_sentences); the
    # evaluation set's LLM F1 counts a dropped one as all-O all the same
    labels = apply_failed_policy(labels, settings.annotation.failed_sentences)
    # the sentence's place (part, text, offsets) from the parts table; ``status`` is the LLM's
    placed = labels.drop(columns=["document_id", "tokens"]).merge(parts.drop(columns="status"), on="sentence_id")
    return placed, spend


def choose_budget(llm_labels: pd.DataFrame, setup: RouteSetup) -> pd.DataFrame:
    """The pool sentences people should correct, in the strategy's order (least sure first)."""
    budget, seed = setup.params.budget, setup.params.seed
    pool = part_of(llm_labels, "pool")
    selection = SELECTIONS[budget.strategy]
    if selection.ranked_by == LABEL_QUALITY:
        quality = out_of_fold_label_quality(pool, budget.label_quality_folds, seed, setup.protocol, setup.grid)
        pool = pool.join(quality, on="sentence_id")
    chosen = selection(pool, min(budget.size, len(pool)), seed)
    if selection.ranked_by is not None:
        chosen = chosen.sort_values(selection.ranked_by, kind="stable", na_position="first")
    logger.info("own_text budget: %d of %d pool sentences chosen by %s", len(chosen), len(pool), budget.strategy)
    return chosen.reset_index(drop=True).assign(part="budget")


# --- the students ----------------------------------------------------------------------------------------


def _training_sets(llm_labels: pd.DataFrame, parts: pd.DataFrame, people: pd.DataFrame) -> dict[str, list]:
    """``llm``: the pool's LLM labels, less the sentences people corrected; ``gold``: every
    sentence people labelled for training (labeller set and budget). Never the evaluation set."""
    trained = with_people_tags(parts, people[people["set"] != "evaluation"])
    pool = part_of(llm_labels, "pool")
    llm = pool[~pool["sentence_id"].isin(trained["sentence_id"]) & pool["llm_tags"].notna()]
    return {"llm": labelled_sentences(llm, "llm_tags"), "gold": labelled_sentences(trained, "expert_tags")}


def train_students(
    llm_labels: pd.DataFrame, parts: pd.DataFrame, people: pd.DataFrame, setup: RouteSetup
) -> tuple[pd.DataFrame, Tagger]:
    """Regimen D (LLM labels, then people's) and the people's labels alone, a student per seed,
    each scored on the evaluation set with a bootstrap interval; and the recommended model (the
    first seed's regimen-D student). No early stopping: the protocol's epochs, nothing chosen on
    held-out labels."""
    sets = _training_sets(llm_labels, parts, people)
    if not sets["gold"]:
        raise ValueError("own_text: people labelled no sentence for training (labeller set and budget both empty)")
    held_out = with_people_tags(parts, people_of(people, "evaluation"))
    words = tuple(tuple(t) for t in held_out["tokens"])
    designs = regimen_designs(sets, [RECOMMENDED, PEOPLE_ONLY])
    seeds = setup.params.seeds
    cells = [
        Cell({"regimen": name, "seed": seed}, Student(setup.protocol, design(seed), seed, predict=words))
        for name, design in designs.items()
        for seed in seeds
    ]
    rows = []
    for cell, output in zip(cells, setup.grid.run("own_text", cells)):
        predicted = probabilities_to_tags(output.artifacts["probabilities"], setup.protocol.labels)
        interval = f1_interval(list(held_out["expert_tags"]), predicted, Bootstrap())
        rows.append({**cell.ids, "f1": interval.value, "f1_low": interval.low, "f1_high": interval.high})
    runs = pd.DataFrame(rows).assign(
        llm_sentences=lambda t: t["regimen"].map({RECOMMENDED: len(sets["llm"]), PEOPLE_ONLY: 0}),
        people_sentences=len(sets["gold"]),
        evaluation_sentences=len(held_out),
    )
    logger.info("own_text students on the evaluation set:\n%s", runs.to_string())
    model, _ = train_student(
        Student(setup.protocol, designs[RECOMMENDED](seeds[0]), seeds[0]), setup.grid, "own_text_model"
    )
    return runs, model


# --- what comes out --------------------------------------------------------------------------------------


def export_labels(
    parts: pd.DataFrame, llm_labels: pd.DataFrame, people: pd.DataFrame, model: Tagger
) -> dict[str, pd.DataFrame | str]:
    """The pool's LLM labels, the people's labels (every set, ``meta.part`` says which) and the
    model's predictions (every sentence) as spaCy/Prodigy span JSONL and as CoNLL."""
    pool = part_of(llm_labels, "pool").dropna(subset=["llm_tags"])
    done = labelled(people)[["sentence_id", "expert_tags", "set"]].rename(columns={"set": "part"})
    by_people = parts.drop(columns="part").merge(done, on="sentence_id").sort_values("sentence_id")
    tables = {
        "llm": (pool, list(pool["llm_tags"])),
        "people": (by_people, list(by_people["expert_tags"])),
        "model": (parts, predict_tags(model, [list(t) for t in parts["tokens"]])),
    }
    exports: dict[str, pd.DataFrame | str] = {}
    for name, (sentences, tags) in tables.items():
        sentences = sentences.reset_index(drop=True)
        records = span_records(sentences, tags, {"labels": name})
        for record, part in zip(records, sentences["part"]):
            record["meta"]["part"] = part
        exports[f"{name}_jsonl"] = pd.DataFrame(records)
        exports[f"{name}_conll"] = conll_text(sentences, tags)
    return exports


def measure_quality(
    people: pd.DataFrame, llm_labels: pd.DataFrame, runs: pd.DataFrame, setup: RouteSetup
) -> dict[str, Any]:
    """On the evaluation set: the LLM labels' F1 and the recommended model's, each with its
    bootstrap interval, and every regimen's mean and std over seeds."""
    bootstrap = Bootstrap()
    llm = llm_f1(people_of(people, "evaluation"), part_of(llm_labels, "evaluation"), bootstrap)
    model = runs[(runs["regimen"] == RECOMMENDED) & (runs["seed"] == setup.params.seeds[0])].iloc[0]
    quality = {
        "evaluation_sentences": int(model["evaluation_sentences"]),
        "bootstrap_resamples": bootstrap.resamples,
        "seeds": len(setup.params.seeds),
        "quality": [
            {"labels": "LLM", "f1": llm.value, "f1_low": llm.low, "f1_high": llm.high},
            {"labels": "model", **{k: float(model[k]) for k in ("f1", "f1_low", "f1_high")}},
        ],
        "students": student_summary(runs).to_dict("records"),
    }
    logger.info("own_text on the evaluation set: LLM F1 %s, model F1 %s", llm, quality["quality"][1])
    return quality


def price_people(people: pd.DataFrame, parts: pd.DataFrame, cost_model: CostModel) -> pd.DataFrame:
    """The gold people gave, by purpose, with their measured time and its price."""
    sets = {name: people_of(people, name) for name in ("evaluation", "labeller", "budget")}
    return gold_consumed(sets, parts, cost_model.expert)


def count_sentences(counts: pd.DataFrame, parts: pd.DataFrame, llm_spend: dict[str, Any]) -> dict[str, int]:
    """Documents, sentences per part and status, and the LLM's replies per status (a failed one
    was dropped or made all-O, llm_annotation.failed_sentences): nothing goes without a count."""
    return {
        "documents": len(counts),
        "empty_documents": int((counts["status"] == "empty").sum()),
        "sentences": len(parts),
        "split_parts": int((parts["status"] == "split").sum()),
        **{f"{part}_sentences": int((parts["part"] == part).sum()) for part in PARTS},
        **{f"llm_{status}": int(n) for status, n in llm_spend["statuses"].items()},
    }


def llm_cost(
    spend: dict[str, Any], labeller: dict[str, Any], llm_labels: pd.DataFrame, cost_model: CostModel
) -> dict[str, Any]:
    """What the LLM cost: the labels (tokens, dollars, calls; a local model's generation time at
    ``cost_model.local_compute.usd_per_hour``) and choosing the labeller."""
    seconds = float(llm_labels["seconds"].sum())  # generation time, cached replies included
    return {
        "labeller": f"{spend['strategy']} x {spend['model']}",
        **{name: spend[name] for name in MONEY_FIELDS},
        "generation_seconds": seconds,
        "compute_usd": seconds / 3600 * cost_model.local_compute.usd_per_hour,
        "choice_usd": labeller.get("choice_usd", 0.0),
    }


def summarise_route(
    quality: dict[str, Any], gold: pd.DataFrame, counts: dict[str, int], cost: dict[str, Any]
) -> tuple[dict[str, Any], str]:
    """The route's figures (JSON) and its page."""
    summary = {
        **quality,
        "llm_cost": cost,
        "people_seconds": float(gold["seconds"].sum()),
        "people_usd": float(gold["usd"].sum()),
        "gold": gold.to_dict("records"),
        "counts": counts,
    }
    return summary, route_page(summary)
