"""The report's sections, one builder each: a section shows the tables and figures of one stage, the
settings it was made under, and which of its inputs exist -- any may be None (its pipeline has not
run), and the section then says "not run". The reporting pipeline's nodes are these functions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from ..analysis import plot_entities_per_type
from ..costs import CostModel
from ..label_quality import LabelQualityParams
from ..llm.costs import MONEY_FIELDS
from ..llm.settings import AnnotationSettings
from ..model.evaluation import micro_rows
from ..parameters import (
    ActiveLearningParams,
    LabelStudioParams,
    MixedAnnotationParams,
    MultitaskParams,
    TrainingParams,
)
from ..students import Protocol, StudentParams
from ..tags import entity_types_of
from ..typed import plain
from .html import Section, embedded_page_body
from .plots import (
    active_learning_curve,
    budget_curve,
    frontier_plot,
    label_quality_plot,
    learning_curve_plot,
    topic_confusion_plot,
)
from .routes import Prices

Table = pd.DataFrame | None


def _shown(settings: Any, *keys: str) -> dict[str, Any]:
    """The settings a section was made under (typed settings), as plain values for the page."""
    values = plain(settings, "json")
    return {key: values[key] for key in keys if key in values}


def _section(key: str, title: str, inputs: Mapping[str, Any], parameters: Mapping[str, Any] | None = None) -> Section:
    """A section that remembers which of its inputs exist (their files are filled in at render)."""
    return Section(
        key,
        title,
        sources={name: "" for name in inputs},
        parameters=dict(parameters or {}),
        missing=[name for name, value in inputs.items() if value is None],
    )


def corpus_section(corpus_summary: Table, entities_per_type: Table, unseen_entities: Table) -> Section:
    section = _section(
        "corpus",
        "Corpus analysis (CoNLL-2003)",
        {"corpus_summary": corpus_summary, "entities_per_type": entities_per_type, "unseen_entities": unseen_entities},
    )
    if corpus_summary is not None:
        section.table(corpus_summary, "Sentences, tokens, documents and entities per split.", digits=1)
    if entities_per_type is not None:
        section.figure(plot_entities_per_type(entities_per_type), "Entity mentions per type and split.")
    if unseen_entities is not None:
        section.table(unseen_entities, "Evaluation mentions whose text never occurs as an entity in train.")
    return section


# the markup table's columns, with the F1 of every entity type of the run between these two parts
MARKUP_SCORES = ["strategy", "model", "sentences", "precision", "recall", "f1"]


MARKUP_COSTS = [
    "parse_failure_rate",
    "repaired_rate",
    "seconds_per_sentence",
    "prompt_tokens_per_sentence",
    "input_tokens",
    "output_tokens",
    "label_cost_usd",
    "confidence_auroc",
]


def markup_columns(markup_quality: pd.DataFrame) -> list[str]:
    per_type = [c for c in markup_quality.columns if c.endswith("_f1") and c != "macro_f1"]
    return [c for c in MARKUP_SCORES + per_type + MARKUP_COSTS if c in markup_quality]


def spend_table(
    llm_spend: Mapping | None, topic_spend: Mapping | None, topic_agreement: Mapping | None
) -> pd.DataFrame:
    """Every LLM stage's calls and money in one table: NER markup evaluation and labelling, S2's
    topics and their agreement check. ``label_cost_usd``: what the labels cost to produce (cached or
    not); ``spend_usd``: what the run that made them paid."""
    rows = []  # each spend record names its own stage too: ours, more telling, goes last and wins
    if llm_spend is not None:
        rows += [
            {**llm_spend["evaluation"], "stage": "NER: markup evaluation"},
            {**llm_spend["labelling"], "stage": f"NER: labelling ({llm_spend['labelling'].get('source', 'annotate')})"},
        ]
    if topic_spend is not None:
        rows.append({**topic_spend, "stage": "topics (S2)"})
    if topic_agreement is not None:
        rows.append({**topic_agreement["second_spend"], "stage": "topics: agreement check"})
    table = pd.DataFrame(rows, columns=["stage", *MONEY_FIELDS])
    if len(table):
        table.loc[len(table)] = ["total", *table[list(MONEY_FIELDS)].sum()]
    return table


def markup_section(
    markup_quality: Table, llm_spend: Mapping | None, labeller_costs: pd.DataFrame, llm_annotation: AnnotationSettings
) -> Section:
    section = _section(
        "markup",
        "LLM markup quality per strategy × model",
        {"markup_quality": markup_quality, "llm_spend": llm_spend},
        _shown(llm_annotation, "quality_sample_size", "pool_size", "labeller", "evaluate", "confidence", "source"),
    )
    if markup_quality is not None and not markup_quality.empty:
        section.text(
            f"Entity-level scores of each prompt strategy × model against gold on the same "
            f"{int(markup_quality['sentences'].max())} validation sentences."
        )
        section.table(markup_quality[markup_columns(markup_quality)])
    if llm_spend is not None:
        labelling = llm_spend["labelling"]
        if labelling.get("source") == "simulated":
            section.text(
                f"The pool's labels are SIMULATED, not LLM output: {labelling.get('sentences')} sentences "
                f"labelled from their gold with the errors of {labelling.get('profile_from')} (label F1 "
                f"{labelling.get('profile_label_f1')}) scaled ×{labelling.get('scale')} to label F1 "
                f"{labelling.get('label_f1')} (target {labelling.get('target_label_f1')}; "
                f"llm_ner.llm.simulated). Every result below trained on them is a what-if."
            )
        elif labelling.get("source") == "import":
            section.text(
                f"The pool's labels were imported ({labelling.get('rows_written')} sentences; invalid tags "
                f"{labelling.get('invalid_tags')}, {labelling.get('orphan_i_tags_repaired')} orphan I- tags "
                f"repaired): their LLM calls were made elsewhere and cost nothing recorded here."
            )
        else:
            section.text(
                f"The labeller {labelling.get('strategy')} × {labelling.get('model')} labelled "
                f"{labelling.get('sentences')} pool sentences; statuses {labelling.get('statuses')}; "
                f"{labelling.get('api_calls', 0)} API calls, {labelling.get('cache_hits', 0)} from cache."
            )
    if not labeller_costs.empty:
        section.table(
            labeller_costs,
            "Who labels 1,000 sentences for how much: the expert, the crowd and each "
            "strategy × model (priced as its own model, and as each priced API model).",
        )
    return section


def students_section(
    student_comparison: Table, learning_curve: Table, training: TrainingParams, protocol: Protocol
) -> Section:
    student = StudentParams(tagger=protocol.tagger, trainer=protocol.trainer)
    section = _section(
        "students",
        "Students: gold labels vs LLM labels",
        {"student_comparison": student_comparison, "learning_curve": learning_curve},
        {"student": student.model_dump(mode="json"), **_shown(training, "model_selection", "evaluation")},
    )
    section.text(protocol_text(protocol))
    if student_comparison is not None:
        shown = student_comparison[
            (student_comparison["entity_type"].isin(["micro", "macro", "all"]))
            | (student_comparison["split"] == "test")
        ]
        section.table(
            shown,
            "The same tagger trained on the same sentences with gold tags (gold) and with the LLM's "
            "tags (llm); rows of split gold_labels count the gold each student was charged.",
        )
    if learning_curve is not None:
        section.figure(learning_curve_plot(learning_curve), "Gold learning curve: F1 against gold training sentences.")
        section.table(learning_curve[learning_curve["entity_type"] == "micro"])
    return section


def protocol_text(protocol: Protocol) -> str:
    """The one protocol every student of the report trained under, in a sentence."""
    tagger, trainer = protocol.tagger, protocol.trainer
    return (
        f"Every student in this report -- the learning curve, the LLM-only and gold-only references, each expert "
        f"budget, regimen, blending schedule and active-learning run -- trains under one protocol: "
        f"{tagger.encoder} ({tagger.encoder_weights}) with a {tagger.head} head, {trainer.epochs} epochs at batch "
        f"{trainer.batch_size}, {trainer.optimizer} at {trainer.learning_rate:g} (encoder) / "
        f"{trainer.head_learning_rate:g} (head), {trainer.schedule} schedule, tagging "
        f"{', '.join(entity_types_of(protocol.labels))}; a route adds phases, never changes it. "
        f"Only model_gold and model_llm choose their epoch on a selection set."
    )


def budget_section(
    add_table: Table, correct_table: Table, reference_students: Table, mixed_annotation: MixedAnnotationParams
) -> Section:
    section = _section(
        "budget",
        "Expert budget: how many gold labels, chosen how",
        {
            "mixed_annotation.add.budget_table": add_table,
            "mixed_annotation.correct.budget_table": correct_table,
            "reference_students": reference_students,
        },
        _shown(mixed_annotation, "budgets", "k", "sweeps", "start", "llm_weight"),
    )
    for mode, table in (("add", add_table), ("correct", correct_table)):
        if table is None or reference_students is None:
            continue
        section.figure(
            budget_curve(table, reference_students),
            f"{mode}: test F1 (mean ± std over folds) against expert-labelled sentences.",
        )
        section.table(micro_rows(table).drop(columns=["split", "entity_type"]), f"{mode}: test micro F1 per budget.")
    return section


def expert_labels_section(
    table: Table, summary: Mapping | None, label_studio: LabelStudioParams, prices: Prices
) -> Section:
    section = _section(
        "expert-labels",
        "The expert step with people (Label Studio)",
        {"expert_label_table": None if table is None or table.empty else table, "expert_label_summary": summary},
        _shown(label_studio, "selection", "rule", "seeds", "import_path"),
    )
    if summary is not None:
        counts = summary["sentences"]
        agreement = summary.get("inter_annotator_f1")
        gold = summary.get("f1_against_conll_gold")
        section.text(
            f"Sentences sent to annotators: {sum(counts.values())} "
            f"({', '.join(f'{n} {s}' for s, n in counts.items())}); "
            f"{summary['lead_time_s'] / 60:.1f} minutes of measured annotation time; "
            f"{summary['repaired_regions']} regions "
            f"snapped to token boundaries; inter-annotator entity F1 "
            f"{'n/a' if agreement is None else f'{agreement:.3f}'} "
            f"over {summary['inter_annotator_tasks']} shared tasks "
            f"(rule: {summary['rule']}); annotators against CoNLL gold: {'n/a' if gold is None else f'{gold:.3f}'}."
        )
    if table is None or table.empty:
        section.text(
            "Every other expert-budget result in this report is simulated (CoNLL's gold tags revealed); "
            "set mixed_annotation.expert_source: label_studio to train on what annotators submitted."
        )
        return section
    rate = prices.model.expert
    micro = micro_rows(table).drop(columns=["split", "entity_type"])
    section.table(
        micro,
        f"Students on the pool with the annotated sentences corrected (label_studio) and with the "
        f"same sentences' CoNLL gold (simulated), test micro F1 mean ± std over seeds. The "
        f"label_studio cost row charges the measured time at ${rate.usd_per_hour:g}/hour; the "
        f"simulated one the assumed {rate.tokens_per_hour:g} tokens/hour.",
    )
    return section


def regimens_section(regimen_table: Table, blending_table: Table, mixed_annotation: MixedAnnotationParams) -> Section:
    section = _section(
        "regimens",
        "Training regimens and LLM → gold blending schedules",
        {"regimen_table": regimen_table, "blending_table": blending_table},
        _shown(mixed_annotation, "expert_set_size", "regimens", "blending"),
    )
    columns = [
        "design",
        "lr_schedule",
        "llm_sentences",
        "gold_sentences",
        "precision_mean",
        "recall_mean",
        "f1_mean",
        "f1_std",
        "seeds",
    ]
    for name, table in (("Regimens (Huang Table 2)", regimen_table), ("Blending schedules", blending_table)):
        if table is not None:
            section.table(micro_rows(table)[columns], f"{name}: test micro P/R/F1, mean ± std over seeds.")
    return section


def active_learning_section(
    history: Table, comparison: Table, model_init_budget: Mapping | None, active_learning: ActiveLearningParams
) -> Section:
    section = _section(
        "active-learning",
        "Active learning",
        {
            "active_learning_history": history,
            "active_learning_comparison": comparison,
            "model_init_budget": model_init_budget,
        },
        _shown(active_learning, "strategies", "seeds", "target_share", "loop"),
    )
    if model_init_budget is not None:
        section.text(
            f"model_init (where active learning starts): {model_init_budget.get('percent')} % "
            f"{model_init_budget.get('mode')}/{model_init_budget.get('strategy')}, "
            f"{model_init_budget.get('chosen_by')}."
        )
    if history is not None:
        section.figure(active_learning_curve(history), "Test F1 against expert labels added, mean ± std over seeds.")
    if comparison is not None:
        section.table(
            comparison,
            "Every strategy against random: final F1, area under the curve, labels and dollars "
            "to the target, wins/losses per round and seed.",
        )
    return section


MULTITASK_COLUMNS = [
    "design",
    "alpha",
    "beta",
    "token_f1_mean",
    "token_f1_std",
    "token_accuracy_mean",
    "sequence_f1_mean",
    "sequence_f1_std",
    "sequence_accuracy_mean",
    "seeds",
]


def topics_section(distribution: Table, agreement: Mapping | None) -> Section:
    section = _section(
        "topics", "Topics by the LLM (seed S2)", {"topic_distribution": distribution, "topic_agreement": agreement}
    )
    section.text(
        "Topics come from the LLM: CoNLL-2003 has no gold topics, so sequence scores are agreement with "
        "the LLM's topics on the same test sentences, and the only check of those labels is a second "
        "LLM reading below."
    )
    if agreement is not None:
        section.text(
            f"LLM vs LLM on {agreement['sentences']} sentences ({agreement['first']['model']} at temperature "
            f"{agreement['first'].get('temperature')} against {agreement['second']['model']} at "
            f"{agreement['second'].get('temperature')}): agreement {agreement['agreement']:.3f}, "
            f"Cohen's kappa {agreement['cohen_kappa']:.3f}."
        )
    if distribution is not None:
        section.table(distribution, "The LLM's topics per set.")
    return section


def multitask_section(comparison: Table, confusion: Table, multitask: MultitaskParams) -> Section:
    section = _section(
        "multitask",
        "The multitask tagger (seed S2)",
        {"multitask_comparison": comparison, "topic_confusion": confusion},
        _shown(multitask, "train_sentences", "seeds", "designs", "tagger", "trainer"),
    )
    if comparison is not None:
        test = comparison[comparison["split"] == "test"]
        section.table(
            test[[c for c in MULTITASK_COLUMNS if c in test]],
            "Test sample, mean ± std over seeds: token F1 / accuracy against gold tags, sequence F1 "
            "(support-weighted) / accuracy against the LLM's topics (S2's Table 2; alpha weights the "
            "sequence loss, beta the token loss).",
        )
    if confusion is not None:
        section.figure(topic_confusion_plot(confusion), "The saved multitask model's topics against the LLM's (test).")
    return section


def label_quality_section(
    summary: Table, crossover: Table, levels: Table, label_quality: LabelQualityParams
) -> Section:
    section = _section(
        "label_quality",
        "At what LLM label quality do LLM labels pay? (simulated labellers)",
        {"label_quality_map": summary, "label_quality_crossover": crossover, "label_quality_level_table": levels},
        _shown(
            label_quality,
            "profile_from",
            "levels",
            "pool_size",
            "gold_sentences",
            "budgets",
            "strategies",
            "blending",
            "seeds",
        ),
    )
    if summary is None or crossover is None or levels is None:
        return section
    section.text(
        "SIMULATED labels: every level but 'real' is the pool's gold with the real labeller's errors "
        "(llm_ner.llm.simulated: where it makes them, predicted from their context, measured on its other "
        "sentences) scaled to a target label F1. The simulator is validated at the real labeller's own "
        "quality only (students on its labels against students on real labels: benchmarks/"
        "simulated_labeller.py, docs/label_quality.md); other levels scale the same errors, so a stronger "
        "LLM whose errors differ in kind is not what they show. Each route trains under the study's one "
        "protocol; test micro F1, mean ± std over the repeats; gold_sentences is all the gold a route "
        "consumed (LLM labels priced at $0)."
    )
    section.table(levels, "The levels: the label F1 each reached on the pool (the real labels' own first).")
    section.figure(label_quality_plot(summary, levels, label_quality), "Student F1 against label F1, per gold budget.")
    section.table(
        crossover,
        "Per all-expert budget: its dollars and F1, and the lowest label F1 from which the best "
        "LLM route costing no more expert dollars beats it at every level above (empty: never, "
        "on these levels).",
    )
    section.table(summary, "Every level × route × gold budget.")
    return section


def costs_section(costs: pd.DataFrame, targets: pd.DataFrame, spend: pd.DataFrame, cost_model: CostModel) -> Section:
    section = _section(
        "costs",
        "Costs and the F1-vs-$ frontier",
        {"labelled_set_costs": None if costs.empty else costs},
        {"cost_model": plain(cost_model, "json")},
    )
    if not spend.empty:
        section.table(
            spend,
            "LLM calls and money per stage (list prices): label_cost_usd is what the labels cost "
            "to produce, spend_usd what the run that made them paid (cache hits are free).",
            digits=4,
        )
    if costs.empty:
        return section
    section.figure(
        frontier_plot(costs),
        "Every labelled set: test F1 against its label cost; the black line is "
        "the Pareto frontier (nothing cheaper is as good).",
    )
    reached = targets.dropna(subset=["total_usd"])
    if not reached.empty:
        missing = sorted(set(targets["route"]) - set(reached["route"]))
        section.table(
            reached,
            "Cheapest result per route reaching each share of the gold-only F1, and its dollars "
            "against the cheapest all-expert result that reaches it"
            + (f"; never reached by: {', '.join(missing)}." if missing else "."),
        )
    section.table(
        costs,
        "Every labelled set: gold sentences and tokens charged (tokens_estimated: sentences × mean "
        "length), dollars by source, test micro F1 mean ± std over runs.",
    )
    return section


def examples_section(entity_examples_html: str | None) -> Section:
    section = _section("examples", "Entity examples", {"entity_examples_html": entity_examples_html})
    if entity_examples_html is not None:
        section.html(embedded_page_body(entity_examples_html), "model_gold's entities against gold on test sentences.")
    return section
