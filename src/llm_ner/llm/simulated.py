"""A labeller simulator calibrated on a real LLM's errors: LLM labels of any chosen quality.

The study measures its routes with two real labellers (label F1 0.35 and 0.46). To ask the same
question at the quality a better LLM would give, this module measures what a real labeller gets
wrong, against gold, and makes labels with those errors -- more or fewer of them -- for any
gold-tagged sentences.

**The error profile** (:meth:`ErrorProfile.measure`), from (gold, LLM) tag pairs:

* *sentence failure*: the share of sentences with gold entities where the labeller marked none
  (a refusal, an unparsable reply); everything else is measured on the remaining sentences;
* per gold entity, one *outcome*: ``correct``; ``missed`` (no LLM span overlaps it);
  ``confused:<TYPE>`` (the same tokens, another type); ``boundary`` (an overlapping LLM span with
  other edges -- the start and end offsets and type of every LLM span over it are kept, per gold
  type and entity length, so "too long", "too short", "shifted" and "split in two" ("New York"
  LOC + "Times" ORG for "New York Times" ORG) are replayed as they happened);
* per gold-O token, whether a *spurious* span (one over gold-O tokens only) starts there, and its
  type and length;
* *in context*: the outcome of an entity and the spurious start at a token are predicted from
  their surroundings by a :class:`ContextModel` (a logistic regression over the words, their
  character patterns, two neighbours on each side, the gold types beside a token, and the kind of
  line: headline, results table, length), so errors come where the real labeller makes them --
  dates in datelines as MISC, sports teams in score lines as LOC -- and a student learns them as
  it learns the real ones. Counted per type or per word instead, the same errors trained students
  .045 better than the real labels did (docs/label_quality.md);
* *consistency*: the share of words whose every occurrence gets the same random draws, so that
  they err the same way each time. It is fitted, by bisection, so that the labeller's own
  sentences simulated at scale 1 are as consistent as its real labels: the share of a repeated
  word's occurrences that carry its usual tag (:func:`tag_determinism`; 0.90 for the seed's
  labels) is the same.

**Scaling** (:func:`simulate_labels`): one factor ``scale`` multiplies every error probability --
failure, each entity's error probability (its kinds keep their proportions), each token's
spurious-start probability -- capped at 1. ``scale=1`` reproduces the measured labeller, 0 gives
gold, 2 twice its errors. :func:`calibrate_scale` finds the factor whose labels of the given
sentences score a target label F1, by bisection: the random draws are fixed per sentence, entity
and token before the factor applies (common random numbers), so label F1 falls monotonically as
it grows.

Every draw comes from ``derive_seed(seed, ...)`` keyed by the sentence's position (or a systematic
word's text): the same seed and sentences give the same labels in any process.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix
from sklearn.linear_model import LogisticRegression

from ..metrics import micro_span_f1
from ..sampling import derive_seed
from ..tags import Span, bio_to_spans, spans_to_bio

POOLED = "*"  # the profile's shares over all types: for a gold type the measured labeller never saw
SHAPES = ("title", "upper", "lower", "digit", "other")
NO_SPAN = "none"  # the start model's class for a gold-O token where no spurious span starts

BoundaryError = tuple[tuple[int, int, str], ...]  # the LLM spans over an entity: (start offset, end offset, type)


def coarse_shape(token: str) -> str:
    """The coarse shape class (title, upper, lower, digit, other) the summary counts spurious starts
    under -- coarser than the tagger's input features (:func:`llm_ner.model.word_shapes.word_shape`)."""
    if any(c.isdigit() for c in token):
        return "digit"
    if not any(c.isalpha() for c in token):
        return "other"
    if token.isupper() and len(token) > 1:
        return "upper"
    return "title" if token[0].isupper() else "lower"


@dataclass(frozen=True)
class TypeErrors:
    """What happened to one gold type's entities: the share of each error kind (the kinds its
    entities may get), and the boundary errors replayed."""

    entities: int
    missed: float
    confused: dict[str, float]  # predicted type -> share of the type's entities
    boundary: float
    shifts: tuple[tuple[int, BoundaryError], ...]  # each observed boundary error: (entity length, its LLM spans)

    @property
    def error_rate(self) -> float:
        return self.missed + sum(self.confused.values()) + self.boundary

    def shares(self) -> dict[str, float]:
        """Error kind (``missed``, ``boundary``, ``confused:<TYPE>``) -> its share of the type's entities."""
        return {
            "missed": self.missed,
            "boundary": self.boundary if self.shifts else 0.0,
            **{f"confused:{label}": share for label, share in self.confused.items()},
        }

    @cached_property
    def shifts_by_length(self) -> dict[int, list[BoundaryError]]:
        """The boundary errors of entities of each length (1, 2, 3 or more tokens): a one-token
        entity cannot be cut short, so it draws from the errors one-token entities had."""
        by_length = defaultdict(list)
        for length, spans in self.shifts:
            by_length[min(length, 3)].append(spans)
        return dict(by_length)

    def boundary_error(self, length: int, draw: float) -> BoundaryError:
        return _pick(self.shifts_by_length.get(min(length, 3)) or [spans for _, spans in self.shifts], draw)


@dataclass(frozen=True)
class ErrorProfile:
    """A labeller's errors against gold (see the module docstring); JSON-able through
    :meth:`to_dict` / :meth:`from_dict`."""

    sentences: int
    label_f1: float  # the measured labeller's micro F1 (exact spans and types)
    sentence_failure: float
    types: dict[str, TypeErrors]  # gold type (and POOLED) -> its errors
    spurious_spans: dict[str, tuple[tuple[int, str], ...]]  # word shape -> observed (length, type) of spurious spans
    o_tokens: dict[str, int]  # word shape -> gold-O tokens counted
    entity_model: ContextModel  # an entity's context -> its outcome (a key of TypeErrors.shares, or "correct")
    start_model: (
        ContextModel  # a gold-O token's context -> NO_SPAN or the "<TYPE>:<length, 3 = 3 or more>" starting there
    )
    consistency: float

    @classmethod
    def measure(
        cls, gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]], tokens: Sequence[Sequence[str]]
    ) -> ErrorProfile:
        """The profile of ``predicted`` (valid IOB2, e.g. ``llm_labels.llm_tags``) against ``gold``."""
        if not len(gold) == len(predicted) == len(tokens):
            raise ValueError(f"{len(gold)} gold, {len(predicted)} predicted and {len(tokens)} token sequences")
        failures = with_entities = 0
        outcomes: dict[str, list[tuple]] = defaultdict(list)  # gold type -> (outcome, detail)
        entity_rows: list[tuple[list[str], str]] = []  # (context, outcome) of each entity
        start_rows: list[tuple[list[str], str]] = []  # (context, what starts there) of each gold-O token
        o_tokens: Counter = Counter()
        spurious_spans: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for words, gold_tags, llm_tags in zip(tokens, gold, predicted):
            if len(gold_tags) != len(llm_tags) or len(words) != len(gold_tags):
                raise ValueError(
                    f"a sentence has {len(words)} tokens, {len(gold_tags)} gold and {len(llm_tags)} LLM tags"
                )
            gold_spans, llm_spans = bio_to_spans(gold_tags), bio_to_spans(llm_tags)
            if gold_spans:
                with_entities += 1
                if not llm_spans:
                    failures += 1
                    continue
            for span, outcome in _outcomes(gold_spans, llm_spans):
                outcomes[span.label].append(outcome)
                entity_rows.append((entity_features(words, span), _outcome_class(outcome)))
            starting = {}
            for span in llm_spans:
                if all(tag == "O" for tag in gold_tags[span.start : span.end]):
                    spurious_spans[coarse_shape(words[span.start])].append((span.end - span.start, span.label))
                    starting[span.start] = f"{span.label}:{min(span.end - span.start, 3)}"
            for position, tag in enumerate(gold_tags):
                if tag == "O":
                    o_tokens[coarse_shape(words[position])] += 1
                    start_rows.append((start_features(words, gold_tags, position), starting.get(position, NO_SPAN)))
        types = {label: _type_errors(found) for label, found in outcomes.items()}
        types[POOLED] = _type_errors([outcome for found in outcomes.values() for outcome in found])
        profile = cls(
            sentences=len(gold),
            label_f1=micro_span_f1(gold, predicted),
            sentence_failure=failures / with_entities if with_entities else 0.0,
            types=types,
            spurious_spans={shape: tuple(spurious_spans[shape]) for shape in SHAPES},
            o_tokens={shape: o_tokens[shape] for shape in SHAPES},
            entity_model=ContextModel.fit([row for row, _ in entity_rows], [outcome for _, outcome in entity_rows]),
            start_model=ContextModel.fit([row for row, _ in start_rows], [start for _, start in start_rows]),
            consistency=0.0,
        )
        return dataclasses.replace(profile, consistency=_fit_consistency(profile, tokens, gold, predicted))

    @classmethod
    def of_labels(cls, labels: pd.DataFrame) -> ErrorProfile:
        """The profile of a labelling table (``tokens``, ``gold_tags``, ``llm_tags``: ``llm_labels``, an import)."""
        return cls.measure(list(labels["gold_tags"]), list(labels["llm_tags"]), list(labels["tokens"]))

    def errors_of(self, label: str) -> TypeErrors:
        return self.types.get(label) or self.types[POOLED]

    def entity_errors(self, words: Sequence[str], span: Span) -> tuple[tuple[str, float], ...]:
        """(kind, probability) of each error this entity may get in its sentence (the kinds its type
        had); the rest of the probability is "correct"."""
        probabilities = self.entity_model.probabilities(entity_features(words, span))
        return tuple(
            (kind, probabilities.get(kind, 0.0))
            for kind, share in self.errors_of(span.label).shares().items()
            if share > 0
        )

    def spurious_starts(
        self, words: Sequence[str], gold: Sequence[str], position: int
    ) -> tuple[tuple[str, float], ...]:
        """The spurious spans that may start at this gold-O token (``<TYPE>:<length>``) and their probabilities."""
        probabilities = self.start_model.probabilities(start_features(words, gold, position))
        return tuple((start, p) for start, p in probabilities.items() if start != NO_SPAN and p > 0)

    def spurious_span(self, starts: tuple[tuple[str, float], ...], draw: float) -> tuple[int, str] | None:
        """The (length, type) of the spurious span one of ``starts`` would be, chosen by ``draw`` in
        proportion to their probabilities (None: there is none)."""
        if not starts:
            return None
        threshold = draw * sum(p for _, p in starts)
        for start, p in starts:  # noqa: B007 -- the start the loop stops at is the one drawn
            if threshold < p:
                break
            threshold -= p
        label, length = start.split(":")
        if length == "3":  # three or more: one of the lengths such spans had
            return _pick(self._long_spurious_lengths.get(label) or [3], min(1.0, threshold / p)), label
        return int(length), label

    @cached_property
    def _long_spurious_lengths(self) -> dict[str, list[int]]:
        """Type -> the lengths (sorted) of the spurious spans of three tokens or more it had."""
        lengths = defaultdict(list)
        for spans in self.spurious_spans.values():
            for length, label in spans:
                if length >= 3:
                    lengths[label].append(length)
        return {label: sorted(found) for label, found in lengths.items()}

    def summary(self) -> pd.DataFrame:
        """One row per gold type (and ``*``): entities and the share of each outcome; the
        sentence failure, spurious and consistency figures as constant columns."""
        rows = [
            {
                "entity_type": label,
                "entities": errors.entities,
                "correct": 1 - errors.error_rate,
                "missed": errors.missed,
                "confused": sum(errors.confused.values()),
                "boundary": errors.boundary,
            }
            for label, errors in self.types.items()
        ]
        table = pd.DataFrame(rows)
        table["sentence_failure"] = self.sentence_failure
        spurious = sum(len(spans) for spans in self.spurious_spans.values())
        table["spurious_per_100_o_tokens"] = 100 * spurious / max(1, sum(self.o_tokens.values()))
        table["consistency"] = self.consistency
        return table

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ErrorProfile:
        data = dict(data)
        data["types"] = {
            label: TypeErrors(
                **{**errors, "shifts": tuple((length, tuple(map(tuple, spans))) for length, spans in errors["shifts"])}
            )
            for label, errors in data["types"].items()
        }
        data["spurious_spans"] = {shape: tuple(map(tuple, spans)) for shape, spans in data["spurious_spans"].items()}
        for model in ("entity_model", "start_model"):
            data[model] = ContextModel.from_dict(data[model])
        return cls(**data)


def _overlap(a: Span, b: Span) -> int:
    return max(0, min(a.end, b.end) - max(a.start, b.start))


def _outcomes(gold_spans: Sequence[Span], llm_spans: Sequence[Span]) -> list[tuple[Span, tuple]]:
    """(gold span, (outcome, detail)) for each gold span: detail is the confused type, or (the
    entity's length, the LLM spans) of a boundary error (each LLM span belongs to the gold span it
    overlaps most)."""
    over: dict[Span, list[Span]] = defaultdict(list)
    for llm_span in llm_spans:
        overlapping = [span for span in gold_spans if _overlap(span, llm_span)]
        if overlapping:
            over[max(overlapping, key=lambda span: (_overlap(span, llm_span), -span.start))].append(llm_span)
    found = []
    for span in gold_spans:
        spans = over.get(span, [])
        if not spans:
            found.append((span, ("missed", None)))
        elif len(spans) == 1 and (spans[0].start, spans[0].end) == (span.start, span.end):
            found.append((span, ("correct", None) if spans[0].label == span.label else ("confused", spans[0].label)))
        else:
            found.append(
                (
                    span,
                    (
                        "boundary",
                        (
                            span.end - span.start,
                            tuple((p.start - span.start, p.end - span.end, p.label) for p in spans),
                        ),
                    ),
                )
            )
    return found


def _type_errors(outcomes: Sequence[tuple]) -> TypeErrors:
    n = len(outcomes)
    kinds = Counter(kind for kind, _ in outcomes)
    confused = Counter(detail for kind, detail in outcomes if kind == "confused")
    return TypeErrors(
        entities=n,
        missed=kinds["missed"] / n if n else 0.0,
        confused={label: count / n for label, count in sorted(confused.items())},
        boundary=kinds["boundary"] / n if n else 0.0,
        shifts=tuple(detail for kind, detail in outcomes if kind == "boundary"),
    )


def _outcome_class(outcome: tuple) -> str:
    """An outcome as the entity model's class: ``correct`` or a key of :meth:`TypeErrors.shares`."""
    kind, detail = outcome
    return f"confused:{detail}" if kind == "confused" else kind


def tag_determinism(tokens: Sequence[Sequence[str]], tags: Sequence[Sequence[str]]) -> float:
    """Over words seen twice or more, the share of occurrences carrying the word's most frequent
    entity type (or O): how consistently a labelling treats a word -- what a student can learn."""
    by_word: dict[str, Counter] = defaultdict(Counter)
    for words, sentence_tags in zip(tokens, tags):
        for word, tag in zip(words, sentence_tags):
            by_word[word][tag[2:] or tag] += 1
    repeated = [counts for counts in by_word.values() if sum(counts.values()) >= 2]
    return sum(max(c.values()) for c in repeated) / sum(sum(c.values()) for c in repeated) if repeated else 1.0


def _fit_consistency(
    profile: ErrorProfile,
    tokens: Sequence[Sequence[str]],
    gold: Sequence[Sequence[str]],
    predicted: Sequence[Sequence[str]],
    iterations: int = 12,
) -> float:
    """The consistency whose simulation of the labeller's own sentences (scale 1) is as consistent
    as its real labels (:func:`tag_determinism`); 0 or 1 where even those bounds do not reach it."""
    target = tag_determinism(tokens, predicted)

    odds = _odds(tokens, gold, profile)  # the same at every consistency

    def determinism(consistency: float) -> float:
        candidate = dataclasses.replace(profile, consistency=consistency)
        return tag_determinism(tokens, _simulate(_draws(tokens, gold, candidate, 0, odds), candidate, 1.0))

    if determinism(1.0) <= target:
        return 1.0
    if determinism(0.0) >= target:
        return 0.0
    low, high = 0.0, 1.0
    for _ in range(iterations):
        middle = (low + high) / 2
        low, high = (middle, high) if determinism(middle) < target else (low, middle)
    return round((low + high) / 2, 4)


# --- the context model: error probabilities from what surrounds an entity or a word -----------------


def _pattern(word: str) -> str:
    """A word's character pattern, runs collapsed: "1996-08-26" -> "d-d-d", "McDonald" -> "XxXx"."""
    out: list[str] = []
    for char in word:
        kind = "X" if char.isupper() else "x" if char.islower() else "d" if char.isdigit() else char
        if not out or out[-1] != kind:
            out.append(kind)
    return "".join(out)[:8]


def _sentence_features(words: Sequence[str]) -> list[str]:
    """What kind of line this is: a headline in capitals, a table of results, its length."""
    letters = [word for word in words if any(char.isalpha() for char in word)]
    features = [f"len={min(len(words) // 5, 6)}"]
    if letters and all(word.isupper() for word in letters):
        features.append("caps")
    if sum(any(char.isdigit() for char in word) for word in words) >= 0.3 * len(words):
        features.append("table")
    return features


def _context(words: Sequence[str], start: int, end: int) -> list[str]:
    """The features of the words ``start:end`` in their sentence: the words, their pattern, the
    neighbours on each side, the kind of line."""
    features = [f"w={word.lower()}" for word in words[start:end]]
    features += [f"p={_pattern(words[start])}", f"suf={words[end - 1][-3:].lower()}", f"n={min(end - start, 3)}"]
    for offset, position in (("-1", start - 1), ("-2", start - 2), ("+1", end), ("+2", end + 1)):
        if 0 <= position < len(words):
            features += [f"{offset}w={words[position].lower()}", f"{offset}p={_pattern(words[position])}"]
        else:
            features.append(f"{offset}=edge")
    return features + _sentence_features(words)


def entity_features(words: Sequence[str], span: Span) -> list[str]:
    """An entity's context, each feature also conjoined with its gold type (types err differently)."""
    context = _context(words, span.start, span.end)
    return [f"type={span.label}"] + context + [f"{span.label}|{feature}" for feature in context]


def start_features(words: Sequence[str], gold: Sequence[str], position: int) -> list[str]:
    """A gold-O token's context, and the gold types beside it (spans run on from entities)."""
    before = (gold[position - 1][2:] or "O") if position else "edge"
    after = (gold[position + 1][2:] or "O") if position + 1 < len(gold) else "edge"
    return _context(words, position, position + 1) + [f"-1g={before}", f"+1g={after}"]


@dataclass(frozen=True)
class ContextModel:
    """P(outcome | features): a multinomial logistic regression over binary features, kept as
    data (JSON-able) -- one weight per class for every feature seen twice or more in fitting."""

    classes: tuple[str, ...]
    intercept: tuple[float, ...]
    weights: dict[str, tuple[float, ...]]

    @classmethod
    def fit(cls, rows: Sequence[Sequence[str]], outcomes: Sequence[str]) -> ContextModel:
        """Each row's features and its outcome; scikit-learn's defaults (L2 penalty, C = 1)."""
        classes = tuple(sorted(set(outcomes)))
        if len(classes) < 2:  # nothing to tell apart: always that class (or, fitted on nothing, none)
            return cls(classes, (0.0,) * len(classes), {})
        seen = Counter(feature for row in rows for feature in set(row))
        index = {feature: i for i, feature in enumerate(sorted(f for f, count in seen.items() if count >= 2))}
        cells = [(r, index[f]) for r, row in enumerate(rows) for f in sorted(set(row)) if f in index]
        matrix = csr_matrix(
            (np.ones(len(cells)), ([r for r, _ in cells], [c for _, c in cells])), shape=(len(rows), len(index))
        )
        fitted = LogisticRegression(max_iter=3000).fit(matrix, list(outcomes))
        coef, intercept = fitted.coef_, fitted.intercept_
        if len(classes) == 2:  # scikit-learn keeps one row for two classes: the second's logit
            coef, intercept = np.vstack([np.zeros_like(coef), coef]), np.array([0.0, intercept[0]])
        weights = {
            feature: tuple(round(float(w), 4) for w in coef[:, i])
            for feature, i in index.items()
            if np.abs(coef[:, i]).max() >= 1e-3
        }
        return cls(classes, tuple(round(float(b), 4) for b in intercept), weights)

    @cached_property
    def _matrix(self) -> tuple[dict[str, int], np.ndarray]:
        index = {feature: i for i, feature in enumerate(self.weights)}
        return index, np.array(list(self.weights.values())).reshape(len(index), len(self.classes))

    @classmethod
    def from_dict(cls, data: dict) -> ContextModel:
        return cls(
            tuple(data["classes"]),
            tuple(data["intercept"]),
            {feature: tuple(weights) for feature, weights in data["weights"].items()},
        )

    def probabilities(self, features: Sequence[str]) -> dict[str, float]:
        if not self.classes:
            return {}
        index, matrix = self._matrix
        rows = sorted({index[feature] for feature in features if feature in index})  # one order: the same sums anywhere
        logits = np.array(self.intercept) + (matrix[rows].sum(axis=0) if rows else 0.0)
        odds = np.exp(logits - logits.max())
        return dict(zip(self.classes, (odds / odds.sum()).tolist()))


# --- simulation ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _EntityDraw:
    span: Span
    errors: tuple[tuple[str, float], ...]  # its error kinds and their probabilities (ErrorProfile.entity_errors)
    error: float  # an error if below the scaled error probability
    kind: float  # which kind, in proportion to the kinds' probabilities
    detail: float  # which boundary error

    @cached_property
    def error_rate(self) -> float:
        return sum(probability for _, probability in self.errors)


@dataclass(frozen=True)
class _Start:
    """A gold-O token where a spurious span may start."""

    position: int
    rate: float  # the chance a spurious span starts here (ErrorProfile.spurious_starts)
    span: tuple[int, str] | None  # the (length, type) it would have (None: its rate is 0)
    draw: float  # it starts if below the scaled rate


@dataclass(frozen=True)
class _SentenceDraws:
    length: int
    failure: float
    entities: tuple[_EntityDraw, ...]
    starts: tuple[_Start, ...]


@dataclass(frozen=True)
class _SentenceOdds:
    """What the context models give one sentence: the same at every seed, consistency and scale."""

    entity_errors: tuple[tuple[tuple[str, float], ...], ...]  # per gold entity, in order: ErrorProfile.entity_errors
    starts: dict[int, tuple[tuple[str, float], ...]]  # per gold-O position: ErrorProfile.spurious_starts


def _odds(tokens: Sequence[Sequence[str]], gold: Sequence[Sequence[str]], profile: ErrorProfile) -> list[_SentenceOdds]:
    return [
        _SentenceOdds(
            tuple(profile.entity_errors(words, span) for span in bio_to_spans(tags)),
            {i: profile.spurious_starts(words, tags, i) for i, tag in enumerate(tags) if tag == "O"},
        )
        for words, tags in zip(tokens, gold)
    ]


def _form_draws(seed: int, kind: str, form: str, consistency: float, fresh: np.ndarray) -> np.ndarray:
    """The draws of one occurrence of a word: the word's own, shared by all its occurrences, if it is
    systematic (with probability ``consistency``), else ``fresh``."""
    draws = np.random.default_rng(derive_seed(seed, "form", kind, form)).random(1 + len(fresh))
    return draws[1:] if draws[0] < consistency else fresh


def _draws(
    tokens: Sequence[Sequence[str]],
    gold: Sequence[Sequence[str]],
    profile: ErrorProfile,
    seed: int,
    odds: Sequence[_SentenceOdds],
) -> list[_SentenceDraws]:
    """Every uniform draw a simulation of these sentences uses, and every probability it is
    compared with (``odds``, from :func:`_odds`), fixed before any scale applies."""
    sentences = []
    for index, (words, tags, sentence_odds) in enumerate(zip(tokens, gold, odds)):
        rng = np.random.default_rng(derive_seed(seed, "sentence", index))
        failure = float(rng.random())
        entities = []
        for span, errors in zip(bio_to_spans(tags), sentence_odds.entity_errors):
            form = " ".join(words[span.start : span.end])
            draws = _form_draws(seed, span.label, form, profile.consistency, rng.random(3))
            entities.append(_EntityDraw(span, errors, *map(float, draws)))
        starts = []
        for position, (word, tag) in enumerate(zip(words, tags)):
            draws = rng.random(2)  # drawn for every token, so that each token's draws stay where they are
            if tag != "O":
                continue
            draws = _form_draws(seed, "O", word, profile.consistency, draws)
            possible = sentence_odds.starts[position]
            starts.append(
                _Start(
                    position,
                    sum(p for _, p in possible),
                    profile.spurious_span(possible, float(draws[1])),
                    float(draws[0]),
                )
            )
        sentences.append(_SentenceDraws(len(tags), failure, tuple(entities), tuple(starts)))
    return sentences


def _pick(items: Sequence, draw: float):
    return items[min(len(items) - 1, int(draw * len(items)))]


def _shifted(span: Span, shift: tuple[int, int, str], length: int) -> Span:
    start_offset, end_offset, label = shift
    start = min(max(0, span.start + start_offset), length - 1)
    return Span(start, min(max(start + 1, span.end + end_offset), length), label)


def _entity(draw: _EntityDraw, profile: ErrorProfile, scale: float, length: int) -> list[Span]:
    """What the simulated labeller makes of one gold entity: itself, nothing, or wrong spans."""
    rate = draw.error_rate
    if rate <= 0 or draw.error >= min(1.0, scale * rate):
        return [draw.span]
    threshold, kind = draw.kind * rate, draw.errors[-1][0]
    for kind, probability in draw.errors:  # noqa: B007 -- the kind the loop stops at is the one drawn
        if threshold < probability:
            break
        threshold -= probability
    if kind == "missed":
        return []
    if kind == "boundary":
        spans = profile.errors_of(draw.span.label).boundary_error(draw.span.end - draw.span.start, draw.detail)
        return [_shifted(draw.span, shift, length) for shift in spans]
    return [Span(draw.span.start, draw.span.end, kind.removeprefix("confused:"))]


def _simulate(draws: Sequence[_SentenceDraws], profile: ErrorProfile, scale: float) -> list[list[str]]:
    labelled = []
    for sentence in draws:
        if sentence.entities and sentence.failure < min(1.0, scale * profile.sentence_failure):
            labelled.append(["O"] * sentence.length)
            continue
        spans, taken = [], [False] * sentence.length
        for draw in sentence.entities:
            for span in _entity(draw, profile, scale, sentence.length):
                if not any(taken[span.start : span.end]):  # a shifted span may run into a neighbour
                    spans.append(span)
                    taken[span.start : span.end] = [True] * (span.end - span.start)
        for start in sentence.starts:
            if taken[start.position] or start.draw >= min(1.0, scale * start.rate):
                continue
            length, label = start.span
            end = start.position + 1
            while end < min(sentence.length, start.position + length) and not taken[end]:
                end += 1
            spans.append(Span(start.position, end, label))
            taken[start.position : end] = [True] * (end - start.position)
        labelled.append(spans_to_bio(spans, sentence.length))
    return labelled


def simulate_labels(
    tokens: Sequence[Sequence[str]], gold: Sequence[Sequence[str]], profile: ErrorProfile, scale: float, seed: int
) -> list[list[str]]:
    """IOB2 labels for gold-tagged sentences, with ``profile``'s errors times ``scale``."""
    if scale < 0 or not math.isfinite(scale):
        raise ValueError(f"scale must be a finite number >= 0, got {scale}")
    return _simulate(_draws(tokens, gold, profile, seed, _odds(tokens, gold, profile)), profile, scale)


@dataclass(frozen=True)
class Calibration:
    scale: float
    label_f1: float  # what the labels at that scale score against gold
    target_f1: float
    labels: list[list[str]] = field(repr=False, default_factory=list)  # the labels at that scale


def calibrate_scale(
    tokens: Sequence[Sequence[str]],
    gold: Sequence[Sequence[str]],
    profile: ErrorProfile,
    target_f1: float,
    seed: int,
    iterations: int = 40,
) -> Calibration:
    """The scale whose labels of these sentences (with this seed) score closest to ``target_f1``.

    Label F1 is 1 at scale 0 and falls as the scale grows; the bisection stops at the largest
    scale it can reach (every error probability 1) when the target is below what that gives."""
    if not 0 <= target_f1 <= 1:
        raise ValueError(f"target_label_f1 must be within [0, 1], got {target_f1}")
    draws = _draws(tokens, gold, profile, seed, _odds(tokens, gold, profile))
    simulated: dict[float, tuple[float, list[list[str]]]] = {}  # scale -> (label F1, labels)

    def f1_at(scale: float) -> float:
        if scale not in simulated:
            labels = _simulate(draws, profile, scale)
            simulated[scale] = (micro_span_f1(gold, labels), labels)
        return simulated[scale][0]

    low, high = 0.0, 1.0
    while f1_at(high) > target_f1 and high < 1e4:
        low, high = high, high * 2
    for _ in range(iterations):
        middle = (low + high) / 2
        if f1_at(middle) > target_f1:
            low = middle
        else:
            high = middle
    best = min((low, high), key=lambda scale: abs(f1_at(scale) - target_f1))
    label_f1, labels = simulated[best]
    return Calibration(best, label_f1, target_f1, labels)


# --- the pool's labels, simulated (llm_annotation.source: simulated) ----------------------------------


def simulated_pool_labels(
    pool: pd.DataFrame, real_labels: pd.DataFrame, target_f1: float | None, seed: int
) -> tuple[pd.DataFrame, dict]:
    """Labels of ``pool`` (``tokens``, ``ner_tags``) with the errors of ``real_labels`` (a real
    labeller's ``llm_tags`` beside their ``gold_tags``, e.g. imported), calibrated on the pool to
    ``target_f1`` (None: the real labeller's own label F1); in the ``llm_labels`` layout, and a
    report of the profile and the calibration."""
    profile = ErrorProfile.of_labels(real_labels)
    target = profile.label_f1 if target_f1 is None else target_f1
    tokens, gold = [list(t) for t in pool["tokens"]], [list(t) for t in pool["ner_tags"]]
    calibration = calibrate_scale(tokens, gold, profile, target, seed)
    name = f"simulated@{target:.2f}"
    labels = pd.DataFrame(
        {
            "sentence_id": pool["sentence_id"].astype(int).to_numpy(),
            "document_id": pool["document_id"].astype(int).to_numpy(),
            "tokens": tokens,
            "gold_tags": gold,
            "llm_tags": calibration.labels,
            "status": "ok",
            "failure_reason": "",
            "strategy": "simulated",
            "model": name,
        }
    )
    report = {
        "profile_sentences": profile.sentences,
        "profile_label_f1": round(profile.label_f1, 4),
        "target_label_f1": round(target, 4),
        "scale": round(calibration.scale, 4),
        "label_f1": round(calibration.label_f1, 4),
        "consistency": round(profile.consistency, 4),
        "seed": seed,
    }
    return labels, report
