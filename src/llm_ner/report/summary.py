"""The report's answer in numbers: what all-expert, LLM-only, the best expert budget, regimen and
active-learning round cost and scored, and the cheapest route to each share of the gold-only F1."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from ..mixed import reference_f1
from .routes import RouteKind

Table = pd.DataFrame | None

# the summary's lines on the best result of these kinds of route, in order
BEST_OF = (
    ("All-expert", {RouteKind.ALL_EXPERT}),
    ("LLM-only", {RouteKind.LLM_ONLY}),
    ("Best expert budget", {RouteKind.BUDGET}),
    ("Best regimen or schedule", {RouteKind.REGIMENS, RouteKind.BLENDING}),
    ("Best active learning round", {RouteKind.ACTIVE_LEARNING}),
)


def gold_only_f1(reference_students: Table) -> float | None:
    """The F1 every target is a share of: the gold-only student on the LLM pool's sentences."""
    return None if reference_students is None else reference_f1(reference_students, "gold_only")


def summary_lines(
    costs: pd.DataFrame, targets: pd.DataFrame, reference_students: Table, llm_spend: Mapping | None
) -> list[str]:
    """The answer in numbers -- first of all, when the pool's LLM labels were simulated, that every
    LLM route is a what-if."""
    if costs.empty:
        return ["No labelled set has been costed yet: run the pipelines before reporting (make run)."]
    lines = []
    labelling = (llm_spend or {}).get("labelling", {})
    if labelling.get("source") == "simulated":
        lines.append(
            f"SIMULATED LLM labels (label F1 {labelling.get('label_f1')}, made from gold with the errors of "
            f"{labelling.get('profile_from')}): every route that uses LLM labels is a what-if."
        )
    kinds = costs["route"].map(RouteKind.of)
    for label, wanted in BEST_OF:
        rows = costs[kinds.isin(wanted)]
        if not rows.empty:
            best = rows.loc[rows["f1_mean"].idxmax()]
            lines.append(f"{label}: {best['result']} — {_described(best)}.")
    reference = gold_only_f1(reference_students)
    if reference is not None:
        lines += [_target_line(share, rows, reference) for share, rows in targets.groupby("target_share", sort=True)]
    return lines


def _usd(value: float) -> str:
    return f"${value:,.2f}"


def _described(row: pd.Series) -> str:
    spread = f" ± {row['f1_std']:.3f}" if row["runs"] > 1 else ""
    return (
        f"test F1 {row['f1_mean']:.3f}{spread} ({row['runs']} run{'s' if row['runs'] > 1 else ''}) for "
        f"{_usd(row['total_usd'])} ({row['expert_sentences']:.0f} gold sentences charged)"
    )


def _target_line(share: float, rows: pd.DataFrame, reference: float) -> str:
    """What all-expert and the cheapest route with LLM labels pay to reach ``share`` of ``reference``."""
    head = f"{share:.0%} of the gold-only F1 ({share * reference:.3f}): "
    expert = rows[(rows["route"] == RouteKind.ALL_EXPERT)].dropna(subset=["total_usd"])
    others = rows[(rows["route"] != RouteKind.ALL_EXPERT)].dropna(subset=["total_usd"])
    head += (
        f"all-expert needs {_usd(expert['total_usd'].iloc[0])} ({expert['result'].iloc[0]})"
        if not expert.empty
        else "no all-expert result reaches it"
    )
    if others.empty:
        return head + "; no route with LLM labels reaches it."
    cheapest = others.loc[others["total_usd"].idxmin()]
    ratio = cheapest["ratio_to_all_expert"]
    versus = f", {ratio:.2f}× the all-expert dollars" if pd.notna(ratio) else ""
    return (
        head + f"; the cheapest route with LLM labels is {cheapest['route']} ({cheapest['result']}) "
        f"at {_usd(cheapest['total_usd'])}{versus}."
    )
