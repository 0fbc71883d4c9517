"""How sure the LLM is of its labels: a score per entity and per sentence (higher = more trustworthy).

Two sources, chosen by ``llm_annotation.confidence.method``:

* **log-probabilities** of the reply itself (one call, no extra cost, backends that report them):
  an entity's score is the probability the model gave to writing its mention; a sentence's score
  is the lowest probability of any token of its answer -- the one decision the model was least
  sure of, which also covers an entity it almost added or almost left out;
* **votes** over several replies -- ``self_consistency`` (samples at a temperature > 0) or
  ``strategy_agreement`` (one reply per prompt strategy): a span is kept when more than half of
  the replies have it (a tie goes to the first reply), its type is the majority type, and its
  score is span share x type share; the sentence's score is the lowest agreement on any candidate
  span (1 - share for a span that was voted out), 1.0 when all replies agree.

Failed replies score 0: they are the first a human should see.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from ..tags import Span, bio_to_spans, spans_to_bio
from .alignment import find_mention
from .parsing import SentenceLabels


@dataclass(frozen=True)
class Scored:
    """Confidence of one sentence's labels: one record per entity, and the sentence score."""

    entities: list[dict]  # {"start", "end", "type", "confidence"}, token offsets (end exclusive)
    sentence: float


def _token_offsets(token_logprobs: Sequence[tuple[str, float]]) -> list[tuple[int, int, float]]:
    offsets, position = [], 0
    for token, logprob in token_logprobs:
        offsets.append((position, position + len(token), logprob))
        position += len(token)
    return offsets


def logprob_confidence(
    labels: SentenceLabels,
    tokens: Sequence[str],
    reply: str,
    token_logprobs: Sequence[tuple[str, float]] | None,
    fuzzy_threshold: float = 85.0,
) -> Scored:
    """Entity and sentence scores from the reply's token log-probabilities (see the module docstring)."""
    if labels.tags is None or not token_logprobs or labels.value_span is None:
        return Scored([], 0.0)
    offsets = _token_offsets(token_logprobs)
    start, end = labels.value_span
    answer = [lp for s, e, lp in offsets if s < end and e > start] or [lp for _, _, lp in offsets]
    sentence = math.exp(min(answer))

    def mention_probability(mention: str) -> float | None:
        at = reply.find(mention, start)
        if at < 0:
            return None
        return math.exp(sum(lp for s, e, lp in offsets if s < at + len(mention) and e > at))

    by_window: dict[tuple[int, int, str], float] = {}
    for etype, mention in labels.entities:
        probability = mention_probability(mention)
        for window in find_mention(tokens, mention, fuzzy_threshold).windows:
            if probability is not None:
                by_window[(*window, etype)] = probability
    entities = [
        {
            "start": s.start,
            "end": s.end,
            "type": s.label,
            "confidence": by_window.get((s.start, s.end, s.label), sentence),
        }
        for s in bio_to_spans(labels.tags)
    ]
    return Scored(entities, sentence)


def vote(votes: Sequence[SentenceLabels], tokens: Sequence[str]) -> tuple[SentenceLabels, Scored]:
    """Combine several replies for one sentence into labels and their confidence (module docstring)."""
    usable = [v for v in votes if v.tags is not None]
    if not usable:
        reasons = sum((v.reasons for v in votes), Counter())
        return SentenceLabels(None, "failed", reasons), Scored([], 0.0)
    n = len(votes)
    span_votes: dict[tuple[int, int], Counter] = {}
    first_reply_spans = {(s.start, s.end) for s in bio_to_spans(votes[0].tags)} if votes[0].tags is not None else set()
    for labels in usable:
        for span in bio_to_spans(labels.tags):
            span_votes.setdefault((span.start, span.end), Counter())[span.label] += (
                1  # Counter keeps first-seen order on ties
            )
    kept, agreement = [], []
    for window, types in span_votes.items():
        share = sum(types.values()) / n
        etype, count = types.most_common(1)[0]
        confidence = share * count / sum(types.values())
        if share > 0.5 or (share == 0.5 and window in first_reply_spans):
            kept.append((confidence, Span(*window, etype)))
            agreement.append(confidence)
        else:
            agreement.append(1.0 - share)
    # overlapping kept spans: the more confident one wins
    chosen: list[tuple[float, Span]] = []
    for confidence, span in sorted(kept, key=lambda item: -item[0]):
        if all(span.end <= other.start or span.start >= other.end for _, other in chosen):
            chosen.append((confidence, span))
    tags = spans_to_bio([span for _, span in chosen], len(tokens))
    reasons = sum((v.reasons for v in usable), Counter())
    if len(usable) < n:
        reasons["failed_votes"] += n - len(usable)
    entities = [
        {"start": s.start, "end": s.end, "type": s.label, "confidence": c}
        for c, s in sorted(chosen, key=lambda item: item[1].start)
    ]
    labels = SentenceLabels(
        tags,
        "repaired" if reasons else "ok",
        reasons,
        [(s.label, " ".join(tokens[s.start : s.end])) for _, s in chosen],
    )
    return labels, Scored(entities, min(agreement, default=1.0))
