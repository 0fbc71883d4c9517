"""Seeded sampling of sentence tables, in one place: shuffles, samples, held-out shares, k folds.

Everything draws from one seeded order (pandas' ``sample(frac=1, random_state=seed)``), so the
first ``k`` rows of a shuffle are exactly what ``sample(n=k, random_state=seed)`` would draw, and
samples of growing size from one seed are nested. A draw inside a seeded run -- an epoch's batch
order, a fold, an active-learning round -- takes :func:`derive_seed` of the run's seed and its keys.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np
import pandas as pd


def derive_seed(seed: int, *keys: int | str) -> int:
    """The seed of one draw inside a run seeded ``seed``: numpy's ``SeedSequence`` over the seed and
    the keys (a string by the CRC-32 of its UTF-8 bytes), as a 31-bit integer. Other keys give
    independent streams, the same keys the same seed -- in any process, under any executor."""
    entropy = [int(seed)] + [key if isinstance(key, int) else zlib.crc32(str(key).encode()) for key in keys]
    if any(value < 0 for value in entropy):
        raise ValueError(f"seeds and integer keys must be >= 0, got {entropy}")
    return int(np.random.SeedSequence(entropy).generate_state(1)[0] >> 1)


def seeded_order(n: int, seed: int) -> list[int]:
    """A seeded permutation of ``range(n)`` (the row order of :func:`seeded_shuffle`)."""
    return pd.RangeIndex(n).to_series().sample(frac=1, random_state=seed).tolist()


def lowest_first(values: Sequence[float], seed: int) -> np.ndarray:
    """Positions of ``values`` from the lowest to the highest, NaN first, ties in a seeded order
    (never in corpus order, which would favour the first documents)."""
    values = np.nan_to_num(np.asarray(values, dtype=float), nan=-np.inf)
    return np.lexsort((np.argsort(seeded_order(len(values), seed)), values))


def seeded_shuffle(table: pd.DataFrame, seed: int) -> pd.DataFrame:
    return table.iloc[seeded_order(len(table), seed)]


def seeded_sample(table: pd.DataFrame, size: int, seed: int, exclude: pd.DataFrame | None = None) -> pd.DataFrame:
    """``size`` sentences (all if fewer), none of ``exclude``'s, back in corpus (``sentence_id``) order."""
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ValueError(f"sample size must be a non-negative integer, got {size!r}")
    candidates = table if exclude is None else table[~table["sentence_id"].isin(exclude["sentence_id"])]
    return seeded_shuffle(candidates, seed).head(size).sort_values("sentence_id").reset_index(drop=True)


def share_count(share: float, total: int, name: str) -> int:
    """How many of ``total`` a share in (0, 1) means: at least one, and never all of them."""
    if not 0 < share < 1:
        raise ValueError(f"{name} must be in (0, 1), got {share!r}")
    count = max(1, round(share * total))
    if count >= total:
        raise ValueError(f"{name} = {share} takes {count} of {total} sentences: none would be left")
    return count


def k_fold_parts(table: pd.DataFrame, k: int, seed: int) -> list[pd.DataFrame]:
    """``k`` disjoint parts of a seeded shuffle of ``table`` (sizes differ by at most one), each in
    corpus order: fold ``i`` draws what it needs from part ``i`` only."""
    if not isinstance(k, int) or k < 1 or k > len(table):
        raise ValueError(f"k must be an integer in [1, {len(table)}], got {k!r}")
    shuffled = seeded_shuffle(table, seed)
    bounds = [round(i * len(table) / k) for i in range(k + 1)]
    return [
        shuffled.iloc[bounds[i] : bounds[i + 1]].sort_values("sentence_id").reset_index(drop=True) for i in range(k)
    ]
