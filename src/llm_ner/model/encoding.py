"""Words -> sub-word ids for a tagger, and length-bucketed, dynamically padded batches.

Each word is labelled on its first sub-word; the tagger gathers those positions, so the network's
output is already one row per word and the other sub-words never reach the loss.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Iterator, Mapping, Sequence

import torch

from .word_shapes import PADDING_SHAPE_ID, shape_ids

IGNORED_LABEL = -100  # torch's CrossEntropyLoss default ignore_index: padding and truncated words


@dataclass(frozen=True)
class EncodedSentence:
    input_ids: list[int]
    word_starts: list[int]  # position of each kept word's first sub-word in input_ids
    n_words: int  # words in the sentence; words past word_starts were truncated away
    shape_ids: list[int]  # one per kept word, from the original word (see word_shapes)
    label_ids: list[int] | None = None  # one per kept word


def encode_sentences(
    tokenizer,
    sentences: Sequence[Sequence[str]],
    tags: Sequence[Sequence[str]] | None = None,
    max_subwords: int = 256,
    lowercase: bool = False,
    *,
    label_to_id: Mapping[str, int] | None = None,
) -> list[EncodedSentence]:
    """Encode word-tokenised sentences (and their tags) with a fast tokenizer.

    Tags become ids through ``label_to_id``, the tagger's own label order
    (:attr:`llm_ner.model.tagger.Tagger.label_to_id`): there is no default, so that training can never
    map tags with one order while decoding reads the tagger's output with another.
    ``lowercase`` is for uncased encoders whose tokenizer does not lowercase by itself (see
    :func:`llm_ner.model.tagger.tokenizer_lowercases`); word shapes are always read from the words
    as given, so they keep the case that lowercasing removes. A word that yields no sub-word at all (a
    lone control or zero-width character) is encoded as the unknown token so that it keeps a tag.
    """
    if tags is not None and len(tags) != len(sentences):
        raise ValueError(f"{len(sentences)} sentences but {len(tags)} tag sequences")
    if tags is not None and label_to_id is None:
        raise ValueError("tags need label_to_id, the tagger's label order (Tagger.label_to_id)")
    words = [[w.lower() if lowercase else w for w in sentence] for sentence in sentences]
    encodings = _tokenize(tokenizer, words, max_subwords)
    # Words that vanished in the tokenizer, in sentences that were not truncated: retry with [UNK].
    for i, encoding in enumerate(encodings):
        starts = _first_subword_positions(encoding)
        if len(starts) < len(words[i]) and len(encoding.ids) < max_subwords:
            present = set(starts)
            words[i] = [w if j in present else tokenizer.unk_token for j, w in enumerate(words[i])]
            encodings[i] = _tokenize(tokenizer, [words[i]], max_subwords)[0]
    encoded = []
    for i, encoding in enumerate(encodings):
        starts = _first_subword_positions(encoding)
        positions = [starts[j] for j in sorted(starts)]
        label_ids = None
        if tags is not None:
            if len(tags[i]) != len(sentences[i]):
                raise ValueError(f"sentence {i}: {len(sentences[i])} tokens but {len(tags[i])} tags")
            try:
                label_ids = [label_to_id[tag] for tag in list(tags[i])[: len(positions)]]
            except KeyError as error:
                raise ValueError(
                    f"sentence {i}: tag {error.args[0]!r} is not one of the tagger's labels "
                    f"{sorted(label_to_id)}; repair tags with tags.repair_bio first"
                ) from None
        encoded.append(EncodedSentence(
            input_ids=list(encoding.ids), word_starts=positions, n_words=len(sentences[i]),
            shape_ids=shape_ids(list(sentences[i])[: len(positions)]), label_ids=label_ids,
        ))
    return encoded


def _tokenize(tokenizer, words: list[list[str]], max_subwords: int):
    if not getattr(tokenizer, "is_fast", False):
        raise TypeError("a fast (Rust) tokenizer is needed: it maps sub-words back to words")
    batch = tokenizer(
        [list(w) for w in words],
        is_split_into_words=True,
        truncation=True,
        max_length=max_subwords,
        padding=False,
    )
    return list(batch.encodings)


def _first_subword_positions(encoding) -> dict[int, int]:
    starts: dict[int, int] = {}
    for position, word_id in enumerate(encoding.word_ids):
        if word_id is not None and word_id not in starts:
            starts[word_id] = position
    return starts


def length_bucketed_batches(
    lengths: Sequence[int], batch_size: int, shuffle: bool, seed: int = 0, bucket_size: int = 50
) -> list[list[int]]:
    """Index batches in which sentences have similar lengths, so little padding is computed.

    Training (``shuffle``): shuffle, sort within buckets of ``bucket_size`` batches, shuffle the
    batches -- random but reproducible from ``seed``. Inference: simply sort by length.
    """
    indices = list(range(len(lengths)))
    if not shuffle:
        indices.sort(key=lambda i: lengths[i])
        return [indices[i : i + batch_size] for i in range(0, len(indices), batch_size)]
    rng = random.Random(seed)
    rng.shuffle(indices)
    batches = []
    span = batch_size * bucket_size
    for start in range(0, len(indices), span):
        bucket = sorted(indices[start : start + span], key=lambda i: lengths[i])
        batches.extend(bucket[i : i + batch_size] for i in range(0, len(bucket), batch_size))
    rng.shuffle(batches)
    return batches


def collate(sentences: Sequence[EncodedSentence], pad_token_id: int) -> dict[str, torch.Tensor]:
    """Pad a batch to its own longest sentence (dynamic padding)."""
    n = len(sentences)
    max_subwords = max(len(s.input_ids) for s in sentences)
    max_words = max(max(len(s.word_starts) for s in sentences), 1)
    input_ids = torch.full((n, max_subwords), pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((n, max_subwords), dtype=torch.long)
    word_starts = torch.zeros((n, max_words), dtype=torch.long)
    word_mask = torch.zeros((n, max_words), dtype=torch.bool)
    word_shapes = torch.full((n, max_words), PADDING_SHAPE_ID, dtype=torch.long)
    labels = torch.full((n, max_words), IGNORED_LABEL, dtype=torch.long)
    for row, sentence in enumerate(sentences):
        input_ids[row, : len(sentence.input_ids)] = torch.tensor(sentence.input_ids)
        attention_mask[row, : len(sentence.input_ids)] = 1
        k = len(sentence.word_starts)
        word_starts[row, :k] = torch.tensor(sentence.word_starts, dtype=torch.long)
        word_mask[row, :k] = True
        word_shapes[row, :k] = torch.tensor(sentence.shape_ids, dtype=torch.long)
        if sentence.label_ids is not None:
            labels[row, :k] = torch.tensor(sentence.label_ids, dtype=torch.long)
    batch = {
        "input_ids": input_ids, "attention_mask": attention_mask, "word_starts": word_starts,
        "word_mask": word_mask, "word_shapes": word_shapes,
    }
    if any(s.label_ids is not None for s in sentences):
        batch["labels"] = labels
    return batch


def iterate_batches(
    encoded: Sequence[EncodedSentence], batches: Sequence[Sequence[int]], pad_token_id: int
) -> Iterator[tuple[list[int], dict[str, torch.Tensor]]]:
    for indices in batches:
        yield list(indices), collate([encoded[i] for i in indices], pad_token_id)
