"""Running a tagger: per-word label probabilities (for uncertainty), tags, and tagging raw text."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch

from ..sampling import derive_seed
from ..tags import OUTSIDE, Span, bio_to_spans, repair_bio
from .devices import autocast, mixed_precision_dtype
from .encoding import IGNORED_LABEL, EncodedSentence, iterate_batches, length_bucketed_batches
from .tagger import Tagger


@dataclass(frozen=True)
class InferenceOutput:
    # One (words, labels) array per sentence, rows summing to 1. A word cut off by the encoder's
    # length limit was never seen by the model: its row is a one-hot O, the tag it is given -- or,
    # with mask_truncated, a row of NaN (uncertainty must not read it as a confident O).
    probabilities: list[np.ndarray]
    loss: float | None = None  # mean cross-entropy per labelled word, when tags were given


def run_inference(
    tagger: Tagger,
    sentences: Sequence[Sequence[str]],
    tags: Sequence[Sequence[str]] | None = None,
    batch_size: int = 64,
    mixed_precision: bool = True,
    mask_truncated: bool = False,
    head_dropout: bool = False,
) -> InferenceOutput:
    """Per-word probabilities (and the loss, given tags). ``head_dropout`` keeps the dropout before
    the classifier active -- one Monte Carlo dropout pass (Shelmanov et al. 2021); seed it first."""
    encoded = tagger.encode(sentences, tags)
    device = tagger.device
    dtype = mixed_precision_dtype(device, mixed_precision)
    outside = tagger.labels.index(OUTSIDE)
    probabilities: list[np.ndarray | None] = [None] * len(encoded)
    loss_sum, labelled = 0.0, 0
    with _inference(tagger, head_dropout):
        for indices, batch in _length_sorted_batches(tagger, encoded, batch_size):
            labels = batch.pop("labels", None)
            with autocast(device, dtype):
                logits = tagger(**batch)
            logits = logits.float()
            if labels is not None:
                loss_sum += tagger.token_losses(logits, labels).sum().item()
                labelled += int((labels != IGNORED_LABEL).sum())
            batch_probabilities = logits.softmax(dim=-1).cpu().numpy()
            for row, i in enumerate(indices):
                kept = len(encoded[i].word_starts)
                sentence = np.zeros((encoded[i].n_words, len(tagger.labels)), dtype=np.float32)
                sentence[:kept] = batch_probabilities[row, :kept]
                if mask_truncated:
                    sentence[kept:] = np.nan
                else:
                    sentence[kept:, outside] = 1.0
                probabilities[i] = sentence
    loss = loss_sum / labelled if tags is not None and labelled else None
    return InferenceOutput(probabilities, loss)


def predict_sequence_proba(
    tagger: Tagger, sentences: Sequence[Sequence[str]], batch_size: int = 64, mixed_precision: bool = True
) -> np.ndarray:
    """Class probabilities of a multitask tagger's sequence head, one row per sentence, columns in
    ``tagger.config.sequence_classes`` order."""
    encoded = tagger.encode(sentences)
    device = tagger.device
    dtype = mixed_precision_dtype(device, mixed_precision)
    probabilities = np.zeros((len(encoded), len(tagger.config.sequence_classes)), dtype=np.float32)
    with _inference(tagger):
        for indices, batch in _length_sorted_batches(tagger, encoded, batch_size):
            with autocast(device, dtype):
                _, logits = tagger.heads(**batch, token=False, sequence=True)
            probabilities[indices] = logits.float().softmax(dim=-1).cpu().numpy()
    return probabilities


@contextmanager
def _inference(tagger: Tagger, head_dropout: bool = False) -> Iterator[None]:
    """Eval mode (but for the head's dropout, with ``head_dropout``) and no autograd; the tagger's
    mode is restored afterwards."""
    was_training = tagger.training
    tagger.eval()
    tagger.dropout.train(head_dropout)
    try:
        with torch.inference_mode():
            yield
    finally:
        tagger.train(was_training)


def _length_sorted_batches(
    tagger: Tagger, encoded: Sequence[EncodedSentence], batch_size: int
) -> Iterator[tuple[list[int], dict[str, torch.Tensor]]]:
    """Batches of similar-length sentences (little padding), on the tagger's device."""
    device = tagger.device
    batches = length_bucketed_batches([len(e.input_ids) for e in encoded], batch_size, shuffle=False)
    for indices, batch in iterate_batches(encoded, batches, tagger.tokenizer.pad_token_id):
        yield indices, {name: tensor.to(device) for name, tensor in batch.items()}


def probabilities_to_tags(probabilities: Sequence[np.ndarray], labels: Sequence[str]) -> list[list[str]]:
    return [[labels[k] for k in p.argmax(axis=1)] if len(p) else [] for p in probabilities]


def predict_tags(tagger: Tagger, sentences: Sequence[Sequence[str]], batch_size: int = 64) -> list[list[str]]:
    """The most probable tag per word (raw argmax; conlleval-style scoring accepts orphan I- tags)."""
    output = run_inference(tagger, sentences, batch_size=batch_size)
    return probabilities_to_tags(output.probabilities, tagger.labels)


def predict_proba(
    tagger: Tagger, sentences: Sequence[Sequence[str]], batch_size: int = 64, mask_truncated: bool = False
) -> list[np.ndarray]:
    """Per-word label probabilities, columns in ``tagger.labels`` order; with ``mask_truncated``,
    words the encoder never saw get NaN rows (for uncertainty sampling)."""
    return run_inference(tagger, sentences, batch_size=batch_size, mask_truncated=mask_truncated).probabilities


def mc_dropout_proba(
    tagger: Tagger, sentences: Sequence[Sequence[str]], passes: int, seed: int, batch_size: int = 64
) -> list[np.ndarray]:
    """``passes`` Monte Carlo dropout passes (dropout on the head only): per sentence an array
    ``(passes, n_words, n_labels)``, truncated words NaN."""
    if not isinstance(passes, int) or passes < 2:
        raise ValueError(f"MC dropout needs at least 2 passes, got {passes!r}")
    runs = []
    for i in range(passes):
        torch.manual_seed(derive_seed(seed, "pass", i))
        runs.append(
            run_inference(
                tagger, sentences, batch_size=batch_size, mask_truncated=True, head_dropout=True, mixed_precision=False
            ).probabilities
        )
    return [np.stack(per_pass) for per_pass in zip(*runs)]


# Words, numbers (with inner hyphens, dots, commas, apostrophes: "Bosnia-Herzegovina", "3.5",
# "1,000", "O'Neill"), acronyms such as "U.S.", the clitic "'s" split off as in CoNLL, and any other
# single non-space character.
_TOKEN = re.compile(r"(?:[A-Za-z]\.){2,}|['’]s\b|\w+(?:(?:['’](?!s\b)|[.,-])\w+)*|[^\w\s]")


def tokenize_text(text: str) -> list[tuple[str, int, int]]:
    """Split raw text into CoNLL-like tokens with their character offsets ``(token, start, end)``."""
    return [(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text)]


@dataclass(frozen=True)
class Entity:
    text: str
    label: str
    start_word: int
    end_word: int  # exclusive
    start_char: int
    end_char: int


@dataclass(frozen=True)
class TaggedText:
    text: str
    words: list[str]
    tags: list[str]  # valid IOB2 (repaired)
    entities: list[Entity] = field(default_factory=list)


def tag_text(tagger: Tagger, texts: str | Sequence[str], batch_size: int = 64) -> TaggedText | list[TaggedText]:
    """Tag raw text: tokenise it, predict, repair to valid IOB2, and return the entity spans.

    Accepts one string (returns one :class:`TaggedText`) or a list of strings (returns a list).
    """
    single = isinstance(texts, str)
    texts = [texts] if single else list(texts)
    tokenised = [tokenize_text(t) for t in texts]
    predicted = predict_tags(tagger, [[w for w, _, _ in tokens] for tokens in tokenised], batch_size)
    results = []
    for text, tokens, tags in zip(texts, tokenised, predicted):
        tags, _ = repair_bio(tags)
        entities = [_entity(text, tokens, span) for span in bio_to_spans(tags)]
        results.append(TaggedText(text, [w for w, _, _ in tokens], tags, entities))
    return results[0] if single else results


def _entity(text: str, tokens: list[tuple[str, int, int]], span: Span) -> Entity:
    start_char, end_char = tokens[span.start][1], tokens[span.end - 1][2]
    return Entity(text[start_char:end_char], span.label, span.start, span.end, start_char, end_char)
