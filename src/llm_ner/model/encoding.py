"""Words -> sub-word ids for a tagger, and length-bucketed, dynamically padded batches.

Each word is labelled on its first sub-word; the tagger gathers those positions, so the network's
output is already one row per word and the other sub-words never reach the loss.

A sentence is tokenised once: its encoding is kept in :data:`ENCODING_CACHE`, keyed by what the
tokenizer is, the encoding settings and the words, because training encodes the same sentences
again and again -- every epoch's validation, and every ``fit`` of mixed annotation, active
learning and the learning curve on overlapping sets. Labels are not cached: the same words may
carry gold tags in one fit and LLM tags in the next.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
import weakref
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .word_shapes import PADDING_SHAPE_ID, shape_ids

IGNORED_LABEL = -100  # torch's CrossEntropyLoss default ignore_index: padding and truncated words


@dataclass(frozen=True)
class EncodedSentence:
    # int64 arrays, read-only: one encoding is shared by every caller that encodes the same words
    input_ids: np.ndarray
    word_starts: np.ndarray  # position of each kept word's first sub-word in input_ids
    n_words: int  # words in the sentence; words past word_starts were truncated away
    shape_ids: np.ndarray  # one per kept word, from the original word (see word_shapes)
    label_ids: np.ndarray | None = None  # one per kept word


class EncodingCache:
    """Sentence encodings (without labels) by key; the least recently used are dropped first."""

    def __init__(self, max_sentences: int = 50_000):
        self.max_sentences = max_sentences
        self._encodings: OrderedDict[tuple, EncodedSentence] = OrderedDict()

    def __len__(self) -> int:
        return len(self._encodings)

    def get(self, key: tuple) -> EncodedSentence | None:
        encoded = self._encodings.get(key)
        if encoded is not None:
            self._encodings.move_to_end(key)
        return encoded

    def put(self, key: tuple, encoded: EncodedSentence) -> None:
        self._encodings[key] = encoded
        self._encodings.move_to_end(key)
        while len(self._encodings) > self.max_sentences:
            self._encodings.popitem(last=False)

    def clear(self) -> None:
        self._encodings.clear()


# ~1 KB per sentence: CoNLL-2003's three splits (~21k sentences) fit twice over.
ENCODING_CACHE = EncodingCache()

_fingerprints: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def tokenizer_fingerprint(tokenizer) -> str:
    """A hash of the tokenizer's whole definition (vocabulary, normaliser, special tokens, ...).

    Two loads of one tokenizer -- a new :meth:`Tagger.build` or :meth:`Tagger.load` per active
    learning round -- share cached encodings; different tokenizers never do. Computed once per
    tokenizer object (~10 ms) and again only if its size changes, as adding tokens does.
    """
    size = len(tokenizer)
    known = _fingerprints.get(tokenizer)
    if known is None or known[0] != size:
        definition = f"{tokenizer.backend_tokenizer.to_str()}|truncation_side={tokenizer.truncation_side}"
        known = (size, hashlib.sha256(definition.encode("utf-8")).hexdigest())
        _fingerprints[tokenizer] = known
    return known[1]


def encode_sentences(
    tokenizer,
    sentences: Sequence[Sequence[str]],
    tags: Sequence[Sequence[str]] | None = None,
    max_subwords: int = 256,
    lowercase: bool = False,
    *,
    label_to_id: Mapping[str, int] | None = None,
    cache: EncodingCache | None = None,
) -> list[EncodedSentence]:
    """Encode word-tokenised sentences (and their tags) with a fast tokenizer.

    Tags become ids through ``label_to_id``, the tagger's own label order
    (:attr:`llm_ner.model.tagger.Tagger.label_to_id`): there is no default, so that training can never
    map tags with one order while decoding reads the tagger's output with another.
    ``lowercase`` is for uncased encoders whose tokenizer does not lowercase by itself (see
    :func:`llm_ner.model.tagger.tokenizer_lowercases`); word shapes are always read from the words
    as given, so they keep the case that lowercasing removes. A word that yields no sub-word at all (a
    lone control or zero-width character) is encoded as the unknown token so that it keeps a tag.
    Only sentences missing from ``cache`` (default :data:`ENCODING_CACHE`) are tokenised.
    """
    if tags is not None and len(tags) != len(sentences):
        raise ValueError(f"{len(sentences)} sentences but {len(tags)} tag sequences")
    if tags is not None and label_to_id is None:
        raise ValueError("tags need label_to_id, the tagger's label order (Tagger.label_to_id)")
    cache = ENCODING_CACHE if cache is None else cache
    settings = (tokenizer_fingerprint(tokenizer), max_subwords, lowercase)
    keys = [(*settings, tuple(sentence)) for sentence in sentences]
    encoded = [cache.get(key) for key in keys]
    missing = [i for i, e in enumerate(encoded) if e is None]
    if missing:
        new = _encode_words(tokenizer, [list(sentences[i]) for i in missing], max_subwords, lowercase)
        for i, e in zip(missing, new):
            encoded[i] = e
            cache.put(keys[i], e)
    if tags is None:
        return encoded
    return [_with_labels(i, e, tags[i], label_to_id) for i, e in enumerate(encoded)]


def _encode_words(tokenizer, sentences: list[list[str]], max_subwords: int, lowercase: bool) -> list[EncodedSentence]:
    words = [[w.lower() for w in sentence] if lowercase else list(sentence) for sentence in sentences]
    encodings = _tokenize(tokenizer, words, max_subwords)
    starts = [_first_subword_positions(encoding) for encoding in encodings]
    # Words that vanished in the tokenizer, in sentences that were not truncated: retry with [UNK].
    for i, encoding in enumerate(encodings):
        if len(starts[i]) < len(words[i]) and len(encoding.ids) < max_subwords:
            present = {encoding.word_ids[p] for p in starts[i]}
            words[i] = [w if j in present else tokenizer.unk_token for j, w in enumerate(words[i])]
            encodings[i] = _tokenize(tokenizer, [words[i]], max_subwords)[0]
            starts[i] = _first_subword_positions(encodings[i])
    return [
        EncodedSentence(
            input_ids=_read_only(encoding.ids),
            word_starts=_read_only(positions),
            n_words=len(sentence),
            shape_ids=_read_only(shape_ids(sentence[: len(positions)])),
        )
        for sentence, encoding, positions in zip(sentences, encodings, starts)
    ]


def _with_labels(
    i: int, encoded: EncodedSentence, tags: Sequence[str], label_to_id: Mapping[str, int]
) -> EncodedSentence:
    if len(tags) != encoded.n_words:
        raise ValueError(f"sentence {i}: {encoded.n_words} tokens but {len(tags)} tags")
    try:
        label_ids = [label_to_id[tag] for tag in list(tags)[: len(encoded.word_starts)]]
    except KeyError as error:
        raise ValueError(
            f"sentence {i}: tag {error.args[0]!r} is not one of the tagger's labels "
            f"{sorted(label_to_id)}; repair tags with tags.repair_bio first"
        ) from None
    return dataclasses.replace(encoded, label_ids=_read_only(label_ids))


def _read_only(values) -> np.ndarray:
    array = np.asarray(values, dtype=np.int64)
    array.flags.writeable = False
    return array


def _tokenize(tokenizer, words: list[list[str]], max_subwords: int):
    if not getattr(tokenizer, "is_fast", False):
        raise TypeError("a fast (Rust) tokenizer is needed: it maps sub-words back to words")
    batch = tokenizer(words, is_split_into_words=True, truncation=True, max_length=max_subwords, padding=False)
    return list(batch.encodings)


def _first_subword_positions(encoding) -> list[int]:
    """Positions of each word's first sub-word, in word order (word ids only grow along a sentence)."""
    positions, previous = [], None
    for position, word_id in enumerate(encoding.word_ids):
        if word_id is not None and word_id != previous:
            positions.append(position)
        previous = word_id
    return positions


def length_bucketed_batches(
    lengths: Sequence[int], batch_size: int, shuffle: bool, seed: int = 0, bucket_size: int = 50
) -> list[list[int]]:
    """Index batches in which sentences have similar lengths, so little padding is computed.

    Training (``shuffle``): shuffle, sort within buckets of ``bucket_size`` batches, shuffle the
    batches -- random but reproducible from ``seed``. Inference: simply sort by length.
    (transformers' ``LengthGroupedSampler`` groups alike but keeps each bucket's batches in
    descending length order: one epoch of 400 sentences would run from the longest to the shortest.)
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


def _padded(rows: Sequence[np.ndarray], width: int, fill: int) -> np.ndarray:
    padded = np.full((len(rows), width), fill, dtype=np.int64)
    for i, row in enumerate(rows):
        padded[i, : len(row)] = row
    return padded


def collate(sentences: Sequence[EncodedSentence], pad_token_id: int) -> dict[str, torch.Tensor]:
    """Pad a batch to its own longest sentence (dynamic padding): one tensor per field."""
    subwords = np.array([len(s.input_ids) for s in sentences])
    words = np.array([len(s.word_starts) for s in sentences])
    max_subwords, max_words = int(subwords.max()), max(int(words.max()), 1)
    batch = {
        "input_ids": _padded([s.input_ids for s in sentences], max_subwords, pad_token_id),
        "attention_mask": (np.arange(max_subwords) < subwords[:, None]).astype(np.int64),
        "word_starts": _padded([s.word_starts for s in sentences], max_words, 0),
        "word_mask": np.arange(max_words) < words[:, None],
        "word_shapes": _padded([s.shape_ids for s in sentences], max_words, PADDING_SHAPE_ID),
    }
    if any(s.label_ids is not None for s in sentences):
        no_labels = np.empty(0, dtype=np.int64)
        labels = [s.label_ids if s.label_ids is not None else no_labels for s in sentences]
        batch["labels"] = _padded(labels, max_words, IGNORED_LABEL)
    return {name: torch.from_numpy(array) for name, array in batch.items()}


def iterate_batches(
    encoded: Sequence[EncodedSentence], batches: Sequence[Sequence[int]], pad_token_id: int
) -> Iterator[tuple[list[int], dict[str, torch.Tensor]]]:
    for indices in batches:
        yield list(indices), collate([encoded[i] for i in indices], pad_token_id)
