"""The figures of the study, one function per plot: each pipeline saves its own, and the report
draws them again from the same tables. Plain matplotlib on tables; no pipeline imports another's nodes."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # nodes run headless
import matplotlib.pyplot as plt
import pandas as pd

from ..active.compare import learning_curves
from ..active.strategies import STRATEGIES
from ..label_quality import LabelQualityParams
from ..mixed import SELECTIONS
from ..model.evaluation import micro_rows


def learning_curve_plot(summary: pd.DataFrame) -> plt.Figure:
    """Micro F1 (mean ± std over seeds) against training-set size, log x axis."""
    figure, axis = plt.subplots(figsize=(6, 4))
    for split, rows in summary[summary["entity_type"] == "micro"].groupby("split", sort=False):
        axis.errorbar(rows["size"], rows["f1_mean"], yerr=rows["f1_std"], marker="o", capsize=3, label=split)
    axis.set_xscale("log")
    axis.set_xlabel("gold training sentences")
    axis.set_ylabel("entity F1 (micro)")
    axis.set_ylim(0, 1)
    axis.grid(alpha=0.3)
    axis.legend()
    axis.set_title("Learning curve (mean ± std over seeds)")
    figure.tight_layout()
    return figure


def budget_curve(table: pd.DataFrame, references: pd.DataFrame) -> plt.Figure:
    """Test micro F1 against expert sentences, one line (mean ± std over folds) per selection strategy,
    LLM-only and gold-only as reference lines."""
    figure, axis = plt.subplots(figsize=(6.5, 4))
    micro = micro_rows(table)
    for strategy, rows in micro.groupby("strategy", sort=False):
        axis.errorbar(
            rows["expert_sentences"],
            rows["f1_mean"],
            yerr=rows["f1_std"],
            marker="o",
            capsize=3,
            label=strategy,
            color=f"C{list(SELECTIONS).index(strategy)}",
        )  # one colour per strategy in every plot
    reference = micro_rows(references)
    for (student, rows), style in zip(reference.groupby("student", sort=False), (":", "--")):
        axis.axhline(rows["f1"].iloc[0], linestyle=style, color="grey", label=student.replace("_", "-"))
    axis.set_xlabel("expert-labelled sentences")
    axis.set_ylabel("test entity F1 (micro)")
    axis.set_ylim(0, 1)
    axis.grid(alpha=0.3)
    axis.legend()
    mode = table["mode"].iloc[0] if len(table) else ""
    axis.set_title(f"Expert budget ({mode}): F1 vs expert labels")
    figure.tight_layout()
    return figure


def active_learning_curve(history: pd.DataFrame) -> plt.Figure:
    """Test micro F1 against expert labels added, mean ± std over seeds per strategy."""
    figure, axis = plt.subplots(figsize=(6.5, 4))
    for strategy, rows in learning_curves(history).groupby("strategy", sort=False):
        color = f"C{list(STRATEGIES).index(strategy)}"  # one colour per strategy in every plot
        axis.plot(
            rows["added"], rows["f1_mean"], marker="o", color=color, label=f"{strategy} ({rows['seeds'].min()} seeds)"
        )
        axis.fill_between(
            rows["added"], rows["f1_mean"] - rows["f1_std"], rows["f1_mean"] + rows["f1_std"], color=color, alpha=0.2
        )
    axis.set_xlabel("expert-labelled sentences added to model_init's set")
    axis.set_ylabel("test entity F1 (micro)")
    axis.grid(alpha=0.3)
    axis.legend(fontsize="small")
    axis.set_title("Active learning: strategies vs random")
    figure.tight_layout()
    return figure


def topic_confusion_plot(table: pd.DataFrame) -> plt.Figure:
    counts = table.set_index("llm_topic")
    figure, axis = plt.subplots(figsize=(5.5, 4.5))
    image = axis.imshow(counts.to_numpy(), cmap="Blues")
    axis.set_xticks(range(len(counts.columns)), counts.columns, rotation=45, ha="right")
    axis.set_yticks(range(len(counts.index)), counts.index)
    for (row, column), value in pd.DataFrame(counts.to_numpy()).stack().items():
        axis.text(column, row, str(value), ha="center", va="center", fontsize=8)
    axis.set(xlabel="predicted by the multitask tagger", ylabel="LLM topic", title="Topics on the test sample")
    figure.colorbar(image, ax=axis)
    figure.tight_layout()
    return figure


def frontier_plot(costs: pd.DataFrame) -> plt.Figure:
    """Test F1 against label dollars, one marker colour per route, the frontier as a line. The x axis
    is logarithmic above $1 and linear below, so that results that cost nothing recorded (imported or
    local-model labels with no gold) still show, at $0."""
    figure, axis = plt.subplots(figsize=(10, 5))
    if costs.empty:
        axis.text(0.5, 0.5, "no labelled set costed yet: the other pipelines have not run", ha="center")
        return figure
    for i, (route, rows) in enumerate(costs.groupby("route", sort=False)):
        axis.errorbar(
            rows["total_usd"],
            rows["f1_mean"],
            yerr=rows["f1_std"],
            fmt="os^Dv<>p*h"[i % 10],
            color=f"C{i % 10}",
            alpha=0.8,
            capsize=2,
            linestyle="none",
            label=route,
        )
    frontier = costs[costs["on_frontier"].astype(bool)].sort_values("total_usd")
    axis.step(frontier["total_usd"], frontier["f1_mean"], where="post", color="black", linewidth=1, label="frontier")
    axis.set_xscale("symlog", linthresh=1.0)
    axis.set_xlim(left=0)
    axis.set_xlabel("label cost, USD (expert + LLM + compute; log scale above $1)")
    axis.set_ylabel("test entity F1 (micro)")
    axis.grid(alpha=0.3, which="both")
    axis.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the points, not on them
    axis.set_title("What each F1 cost: every labelled set of the study")
    figure.tight_layout()
    return figure


def label_quality_plot(summary: pd.DataFrame, levels: pd.DataFrame, params: LabelQualityParams) -> plt.Figure:
    """The label-quality map: one panel per gold budget; in each, test F1 against label F1 (mean ±
    std over repeats) of every LLM route with that much gold, LLM-only (no gold) in every panel,
    all-expert with that gold as a dashed line, the real labeller's label F1 and ``params.marks``
    as vertical lines."""
    budgets = sorted(summary.loc[summary["route"] == "all_expert", "gold_sentences"].unique())
    figure, axes = plt.subplots(
        1, max(1, len(budgets)), figsize=(4.2 * max(1, len(budgets)), 4), sharey=True, squeeze=False
    )
    routes = sorted(summary.loc[summary["route"] != "all_expert", "route"].unique())
    real = levels.loc[levels["level"] == "real", "label_f1"]
    for axis, gold in zip(axes[0], budgets):
        shown = summary[(summary["route"] != "all_expert") & summary["gold_sentences"].isin([0, gold])]
        for route, rows in shown.groupby("route"):
            rows = rows.sort_values("label_f1")
            axis.errorbar(
                rows["label_f1"],
                rows["f1_mean"],
                yerr=rows["f1_std"],
                marker="o",
                capsize=2,
                color=f"C{routes.index(route) % 10}",
                label=route,
            )
        expert = summary[(summary["route"] == "all_expert") & (summary["gold_sentences"] == gold)]
        axis.axhline(expert["f1_mean"].iloc[0], color="black", linestyle="--", label=f"all-expert, {gold} gold")
        for f1 in real:
            axis.axvline(f1, color="grey", linestyle=":", label="the real labeller")
        for i, (name, f1) in enumerate(params.marks.items()):
            axis.axvline(f1, color="grey", linestyle="-.", alpha=0.6)
            axis.text(f1, 0.02 + 0.06 * i, f" {name}", fontsize=7, color="grey")
        axis.set(xlabel="LLM label F1 (simulated; real marked)", title=f"{gold} gold sentences")
        axis.set_ylim(0, 1)
        axis.grid(alpha=0.3)
        axis.legend(fontsize="x-small", loc="lower right")
    axes[0][0].set_ylabel("student test F1 (micro)")
    figure.suptitle("At what LLM label quality do LLM labels pay? (LLM routes at ≤ that gold vs all-expert)")
    figure.tight_layout()
    return figure
