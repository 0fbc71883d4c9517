"""Every labelled set the study produced, as one row: the route that labelled it (all-expert,
LLM-only, an expert budget, a regimen, active learning), what it cost and the test F1 it bought.

Each ``*_rows`` function reads one stage's summary table and returns rows of :data:`COLUMNS`, or no
rows when that stage has not run (its table is None). Dollars come from :class:`llm_ner.costs.CostModel`;
every gold label a result consumed is charged -- expert budget, the LLM's demonstrations, model
selection -- and evaluation gold is not (every result is scored on the same test sample).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any

import pandas as pd

from ..accounting import CHARGED_PURPOSES
from ..costs import CostModel, LabelledSet, cheapest_reaching, on_frontier
from ..mixed import reference_f1
from ..model.evaluation import micro_rows

COLUMNS = [
    "route",
    "result",
    "expert_sentences",
    "expert_tokens",
    "llm_sentences",
    "expert_usd",
    "llm_usd",
    "compute_usd",
    "total_usd",
    "f1_mean",
    "f1_std",
    "runs",
    "f1_per_usd",
    "tokens_estimated",
]


class RouteKind(StrEnum):
    """The families of labelled sets the report compares. A row's ``route`` is its kind's name,
    qualified for most kinds (``expert budget (add, random)``): :meth:`of` reads the kind back."""

    ALL_EXPERT = "all-expert"
    LLM_ONLY = "LLM-only"
    BUDGET = "expert budget"
    REGIMENS = "regimens"
    BLENDING = "blending schedules"
    ACTIVE_LEARNING = "active learning"
    LABEL_STUDIO = "expert in Label Studio"

    def qualified(self, detail: str) -> str:
        return f"{self.value} ({detail})"

    @classmethod
    def of(cls, route: str) -> RouteKind:
        return next(kind for kind in cls if route == kind.value or route.startswith(f"{kind.value} ("))


ALL_EXPERT, LLM_ONLY = RouteKind.ALL_EXPERT, RouteKind.LLM_ONLY


@dataclass(frozen=True)
class Prices:
    """What every route's labels cost: the cost model, the LLM labels' measured calls and gold
    (empty when llm_annotation has not run), and the train split's mean sentence length (the
    expert tokens of a result that counted sentences only)."""

    model: CostModel
    llm_labels: Mapping[str, Any]
    tokens_per_sentence: float


def _row(
    route: str,
    result: str,
    labelled: LabelledSet,
    llm_sentences: float,
    f1_mean: float,
    f1_std: float,
    runs: int,
    cost_model: CostModel,
    tokens_estimated: bool = False,
) -> dict[str, Any]:
    cost = cost_model.cost(labelled)
    return {
        "route": route,
        "result": result,
        "expert_sentences": labelled.expert_sentences,
        "expert_tokens": labelled.expert_tokens,
        "llm_sentences": llm_sentences,
        **cost._asdict(),
        "total_usd": cost.total_usd,
        "f1_mean": float(f1_mean),
        "f1_std": float(f1_std),
        "runs": int(runs),
        "f1_per_usd": float(f1_mean) / cost.total_usd if cost.total_usd > 0 else float("nan"),
        "tokens_estimated": tokens_estimated,
    }


def _table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=COLUMNS)


def tokens_per_sentence(corpus_summary: pd.DataFrame | None, split: str = "train") -> float:
    """Mean train sentence length: the expert tokens of a result that counted sentences only
    (unknown -- NaN -- until data_analysis has described this corpus)."""
    if corpus_summary is None:
        return float("nan")
    return float(corpus_summary.loc[corpus_summary["split"] == split, "mean_sentence_length"].iloc[0])


def api_model(llm_models: Mapping[str, Any], name: str) -> str:
    """The API model name a configured model (``llm_models.<name>``) is priced under."""
    return (llm_models.get(name) or {}).get("model", name)


def llm_labelled_set(
    llm_spend: Mapping[str, Any] | None,
    llm_gold_usage: pd.DataFrame | None,
    markup_quality: pd.DataFrame | None,
    llm_models: Mapping[str, Any],
) -> dict[str, Any] | None:
    """The LLM labels every LLM-using route starts from: the pool labelling's calls (priced by the
    API model name) and the gold the labeller consumed (its demonstrations, whatever chose it)."""
    if llm_spend is None:
        return None
    labelling = llm_spend["labelling"]
    charged = (
        llm_gold_usage[llm_gold_usage["purpose"].isin(CHARGED_PURPOSES)]
        if llm_gold_usage is not None
        else pd.DataFrame(columns=["sentences", "tokens"])
    )
    model = labelling.get("model")
    seconds = 0.0
    if markup_quality is not None and labelling.get("source") == "annotate":
        # the labelling run's own wall time is not recorded: its strategy's seconds per sentence on the sample
        same = markup_quality[
            (markup_quality["strategy"] == labelling.get("strategy")) & (markup_quality["model"] == model)
        ]
        if not same.empty:
            seconds = float(same["seconds_per_sentence"].iloc[0]) * labelling.get("sentences", 0)
    labelled = LabelledSet(
        expert_sentences=float(charged["sentences"].sum()),
        expert_tokens=float(charged["tokens"].sum()),
        llm_model=api_model(llm_models, model) if model else None,
        llm_input_tokens=labelling.get("input_tokens", 0),
        llm_output_tokens=labelling.get("output_tokens", 0),
        llm_seconds=seconds,
        # what the labels cost as bought (batch replies at the batch price), where the run recorded it
        llm_usd=labelling.get("label_cost_usd") if labelling.get("source") == "annotate" else None,
    )
    # an import records the rows it wrote, and no strategy or model: they were chosen elsewhere
    sentences = labelling.get("sentences", labelling.get("rows_written", 0))
    return {
        **asdict(labelled),
        "sentences": int(sentences),
        "source": labelling.get("source"),
        "strategy": labelling.get("strategy", "imported"),
        "model": model or "an external LLM",
    }


def _labels(llm: Mapping[str, Any]) -> LabelledSet:
    return LabelledSet(**{k: llm[k] for k in LabelledSet.__dataclass_fields__ if k in llm})


def expert_rows(
    learning_curve: pd.DataFrame | None,
    reference_students: pd.DataFrame | None,
    mixing_pool: pd.DataFrame | None,
    tokens_per_sentence: float,
    cost_model: CostModel,
) -> pd.DataFrame:
    """All-expert: the gold learning curve (nested random subsets, fixed epochs, no selection gold)
    and the gold-only student on the LLM pool's sentences (the reference of every budget curve)."""
    rows = []
    if learning_curve is not None:
        estimated = "gold_tokens" not in learning_curve  # tables written before they counted tokens
        for row in micro_rows(learning_curve).itertuples():
            tokens = row.size * tokens_per_sentence if estimated else row.gold_tokens
            rows.append(
                _row(
                    ALL_EXPERT,
                    f"learning curve: {row.size} gold sentences",
                    LabelledSet(row.size, tokens),
                    0,
                    row.f1_mean,
                    row.f1_std,
                    row.runs,
                    cost_model,
                    tokens_estimated=estimated,
                )
            )
    gold_only = reference_f1(reference_students, "gold_only") if reference_students is not None else None
    if gold_only is not None and mixing_pool is not None:
        tokens = sum(len(t) for t in mixing_pool["tokens"])
        rows.append(
            _row(
                ALL_EXPERT,
                f"gold-only: the pool's {len(mixing_pool)} sentences",
                LabelledSet(len(mixing_pool), tokens),
                0,
                gold_only,
                0.0,
                1,
                cost_model,
            )
        )
    return _table(rows)


def llm_only_rows(
    reference_students: pd.DataFrame | None, llm: Mapping[str, Any] | None, cost_model: CostModel
) -> pd.DataFrame:
    """LLM-only: the student trained on the pool's LLM labels alone (fixed epochs: no gold at all
    beyond what the labeller consumed)."""
    llm_only = reference_f1(reference_students, "llm_only") if reference_students is not None else None
    if llm_only is None or not llm:
        return _table([])
    name = f"{llm['strategy']} x {llm['model']} labels ({llm['source']})"
    return _table([_row(LLM_ONLY, name, _labels(llm), llm["sentences"], llm_only, 0.0, 1, cost_model)])


def budget_rows(
    budget_tables: Mapping[str, pd.DataFrame | None],
    llm: Mapping[str, Any] | None,
    tokens_per_sentence: float,
    cost_model: CostModel,
) -> pd.DataFrame:
    """Each expert budget x selection strategy of each sweep, mean over folds."""
    rows = []
    for mode, table in budget_tables.items():
        if table is None or not llm:
            continue
        estimated = "expert_tokens" not in table  # tables written before they counted tokens
        for row in micro_rows(table).itertuples():
            tokens = row.expert_sentences * tokens_per_sentence if estimated else row.expert_tokens
            labelled = _labels(llm).plus_expert(row.expert_sentences, tokens)
            rows.append(
                _row(
                    RouteKind.BUDGET.qualified(f"{mode}, {row.strategy}"),
                    f"{mode} {row.strategy} {row.budget:.0%}",
                    labelled,
                    llm["sentences"],
                    row.f1_mean,
                    row.f1_std,
                    row.folds,
                    cost_model,
                    estimated,
                )
            )
    return _table(rows)


def regimen_rows(
    tables: Mapping[str, pd.DataFrame | None],
    expert_set: pd.DataFrame | None,
    llm: Mapping[str, Any] | None,
    cost_model: CostModel,
) -> pd.DataFrame:
    """Huang's regimens and blending schedules: the pool's LLM labels beside the expert set (its gold
    tokens: the expert set's own when a design read all of it, else the sentences it consumed x the
    set's mean length, marked estimated). A design that reads gold only (A_gold, pure_gold) is on the
    all-expert route; one that reads LLM labels only (B_llm, pure_llm, ...) on the LLM-only route --
    but it still pays for the LLM labels and their gold."""
    if expert_set is None or not llm:
        return _table([])
    set_tokens = sum(len(t) for t in expert_set["tokens"])
    rows = []
    for family, table in tables.items():
        if table is None:
            continue
        for row in micro_rows(table).itertuples():
            whole_set = row.gold_sentences == len(expert_set)  # then the share below is the set's exact tokens
            gold = LabelledSet(row.gold_sentences, row.gold_sentences * set_tokens / max(len(expert_set), 1))
            if row.llm_sentences == 0:
                route, labelled = ALL_EXPERT, gold
            else:
                route = LLM_ONLY if row.gold_sentences == 0 else family
                labelled = _labels(llm).plus_expert(gold.expert_sentences, gold.expert_tokens)
            rows.append(
                _row(
                    route,
                    f"{family}: {row.design} ({row.lr_schedule})",
                    labelled,
                    row.llm_sentences,
                    row.f1_mean,
                    row.f1_std,
                    row.seeds,
                    cost_model,
                    tokens_estimated=not whole_set,
                )
            )
    return _table(rows)


def active_learning_rows(
    history: pd.DataFrame | None,
    model_init_training_set: pd.DataFrame | None,
    llm: Mapping[str, Any] | None,
    tokens_per_sentence: float,
    cost_model: CostModel,
) -> pd.DataFrame:
    """Each active-learning round x strategy, mean over seeds: model_init's labels (LLM pool + its
    expert share) plus the sentences the expert labelled so far (and the gold a stopping rule read)."""
    if history is None or model_init_training_set is None or not llm:
        return _table([])
    gold = model_init_training_set[model_init_training_set["source"] == "gold"]
    start = _labels(llm).plus_expert(len(gold), sum(len(t) for t in gold["tokens"]))
    # a loop people labelled in Label Studio carries their measured time, which prices their labels
    measured = "expert_seconds" in history and history["expert_seconds"].notna().all()
    timed = history.assign(expert_seconds=history["expert_seconds"] if measured else 0.0)
    rounds = (
        timed.groupby(["strategy", "iteration"], sort=False)
        .agg(
            added=("added", "mean"),
            added_tokens=("added_tokens", "mean"),
            stopping=("stopping_gold_sentences", "max"),
            seconds=("expert_seconds", "mean"),
            f1_mean=("test_f1", "mean"),
            f1_std=("test_f1", "std"),
            runs=("seed", "nunique"),
        )
        .reset_index()
    )
    rows = []
    for row in rounds.itertuples():
        typed_tokens = 0 if measured else row.added_tokens
        labelled = replace(
            start.plus_expert(row.added + row.stopping, typed_tokens + row.stopping * tokens_per_sentence),
            expert_seconds=start.expert_seconds + row.seconds,
        )
        rows.append(
            _row(
                RouteKind.ACTIVE_LEARNING.qualified(row.strategy),
                f"{row.strategy}: model_init + {row.added:.0f} sentences",
                labelled,
                llm["sentences"],
                row.f1_mean,
                0.0 if pd.isna(row.f1_std) else row.f1_std,
                row.runs,
                cost_model,
                tokens_estimated=bool(row.stopping),
            )
        )
    return _table(rows)


def annotated_rows(table: pd.DataFrame | None, llm: Mapping[str, Any] | None, cost_model: CostModel) -> pd.DataFrame:
    """The pool corrected by people in Label Studio (``expert_source: label_studio``), priced by the
    time they were measured to take (sentences without a recorded time at the assumed speed) -- and
    the same sentences with CoNLL gold, priced at the assumed speed (the simulated expert)."""
    if table is None or table.empty or not llm:
        return _table([])
    rows, start = [], _labels(llm)
    for row in micro_rows(table).itertuples():
        measured = row.expert_source == "label_studio"
        seconds, untimed_tokens = (row.expert_seconds, row.untimed_tokens) if measured else (0.0, row.expert_tokens)
        labelled = replace(
            start.plus_expert(row.expert_sentences, untimed_tokens), expert_seconds=start.expert_seconds + seconds
        )
        name = "measured expert time" if measured else "simulated expert (CoNLL gold), assumed speed"
        rows.append(
            _row(
                RouteKind.LABEL_STUDIO.qualified(row.expert_source),
                f"correct {row.expert_sentences:.0f}: {name}",
                labelled,
                llm["sentences"],
                row.f1_mean,
                row.f1_std,
                row.seeds,
                cost_model,
            )
        )
    return _table(rows)


def with_frontier(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """All routes' rows, cheapest first, with ``on_frontier`` (nothing cheaper is as good)."""
    results = pd.concat([t for t in tables if not t.empty] or [_table([])], ignore_index=True)
    results = results.sort_values(["total_usd", "f1_mean"], ascending=[True, False], kind="stable").reset_index(
        drop=True
    )
    results["on_frontier"] = on_frontier(results) if len(results) else pd.Series(dtype=bool)
    return results


def cost_to_target(results: pd.DataFrame, reference_f1: float, shares: list[float]) -> pd.DataFrame:
    """Per target (a share of the gold-only F1) and route: the cheapest result reaching it, and its
    dollars against the cheapest all-expert result reaching the same target."""
    rows = []
    for share in shares:
        target = share * reference_f1
        expert = cheapest_reaching(results[results["route"] == ALL_EXPERT], target)
        for route, group in results.groupby("route", sort=False):
            best = cheapest_reaching(group, target)
            rows.append(
                {
                    "target_share": share,
                    "target_f1": target,
                    "route": route,
                    "result": None if best is None else best["result"],
                    "total_usd": float("nan") if best is None else best["total_usd"],
                    "f1_mean": float("nan") if best is None else best["f1_mean"],
                    "expert_sentences": float("nan") if best is None else best["expert_sentences"],
                    "ratio_to_all_expert": (
                        best["total_usd"] / expert["total_usd"]
                        if best is not None and expert is not None and expert["total_usd"] > 0
                        else float("nan")
                    ),
                }
            )
    return pd.DataFrame(rows)


def labeller_costs(
    markup_quality: pd.DataFrame | None,
    llm_models: Mapping[str, Any],
    cost_model: CostModel,
    tokens_per_sentence: float,
    sentences: int = 1000,
) -> pd.DataFrame:
    """Who labels ``sentences`` sentences for how much: an expert, the crowd, and each prompt strategy
    x model scored on the markup sample -- its tokens priced as its own model, online (``usd``) and
    through a batch job (``usd_batch``), and, for comparison, as every priced API model (what the
    same prompts would cost there online)."""
    rows = [
        {
            "labeller": "expert",
            "label_f1": 1.0,
            "usd": cost_model.expert.usd(sentences * tokens_per_sentence),
            "seconds_per_sentence": 3600 / cost_model.expert.tokens_per_hour * tokens_per_sentence,
        },
        {
            "labeller": f"crowd ({cost_model.crowd.workers} workers)",
            "label_f1": float("nan"),
            "usd": cost_model.crowd.usd(sentences),
            "seconds_per_sentence": float("nan"),
        },
    ]
    for row in markup_quality.itertuples() if markup_quality is not None else []:
        scale = sentences / row.sentences
        compute = row.seconds_per_sentence * sentences / 3600 * cost_model.local_compute.usd_per_hour
        tokens = (api_model(llm_models, row.model), row.input_tokens * scale, row.output_tokens * scale)
        entry = {
            "labeller": f"{row.strategy} x {row.model}",
            "label_f1": row.f1,
            "usd": cost_model.llm_usd(*tokens) + compute,
            "usd_batch": cost_model.llm_usd(*tokens, tier="batch") + compute,
            "seconds_per_sentence": row.seconds_per_sentence,
        }
        for priced in cost_model.llm_prices:
            entry[f"usd_as_{priced}"] = cost_model.llm_usd(priced, row.input_tokens * scale, row.output_tokens * scale)
        rows.append(entry)
    table = pd.DataFrame(rows)
    table.insert(1, "sentences", sentences)
    return table
