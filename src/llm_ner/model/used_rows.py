"""While :func:`~llm_ner.model.training.fit` runs, train only the word-embedding rows its sentences use.

Why: MiniLM's word-embedding matrix (30,522 x 384) holds half of its 22.7 M weights, and one fit's
sentences use a few thousand of its rows. Trained whole, the matrix costs every step a zero-filled
47 MB gradient (7 % of a MiniLM epoch on one CPU thread: fresh memory, page faults and all), its
share of the clipping norm and of the AdamW update -- ~11 % in all (benchmarks/profile_training.py).

Why the weights come out the same: a row that no sentence uses gets a zero gradient at every step.
Under an element-wise optimizer (AdamW, or SGD with momentum: :data:`~llm_ner.model.training.
OPTIMIZERS`) its moment estimates then stay zero, and weight decay is the row's only change: a
scaling, the same for every such row, that depends on the step's learning rate. So the compact matrix
carries one extra *probe* row of ones that no sentence looks up; it undergoes exactly that scaling,
and at the end every unused row is scaled by it. The result equals training the whole matrix up to
float rounding (tests/model/test_used_rows.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


class UsedRowsEmbedding(nn.Module):
    """Stands in for an encoder's ``nn.Embedding`` during training: a trainable copy of the rows in
    ``ids``, plus the probe row.

    In training mode only ``ids`` may be looked up (any other id is an index error, never a silent
    wrong row). In eval mode -- the per-epoch validation -- any id may: an unused one reads as its
    original row times the probe, which is what whole-matrix training would have made of it by now.
    """

    def __init__(self, embedding: nn.Embedding, ids: torch.Tensor):
        super().__init__()
        weight = embedding.weight.detach()
        ids = torch.unique(ids.to(weight.device))
        # buffers, not state: a state_dict taken during fit holds just the trainable rows
        self.register_buffer("ids", ids, persistent=False)
        self.register_buffer("original", weight, persistent=False)  # shares storage; never written during fit
        row_of = torch.full((embedding.num_embeddings,), -1, dtype=torch.long, device=weight.device)
        row_of[ids] = torch.arange(len(ids), device=weight.device)
        self.register_buffer("row_of", row_of, persistent=False)
        self.weight = nn.Parameter(torch.cat([weight[ids], torch.ones_like(weight[:1])]))
        padding = embedding.padding_idx
        self.padding_idx = int(row_of[padding]) if padding is not None and row_of[padding] >= 0 else None

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        rows = self.row_of[input_ids]
        if self.training:
            return F.embedding(rows, self.weight, self.padding_idx)
        trained = F.embedding(rows.clamp_min(0), self.weight)
        by_now = self.original[input_ids] * self.weight[-1]
        return torch.where((rows >= 0).unsqueeze(-1), trained, by_now)

    def written_back(self) -> torch.Tensor:
        """The whole matrix as training it whole would have left it."""
        with torch.no_grad():
            weight = self.original * self.weight[-1]
            weight[self.ids] = self.weight[:-1]
        return weight


@contextmanager
def training_only_used_rows(encoder: nn.Module, token_ids: Iterable[np.ndarray]) -> Iterator[None]:
    """Within the block, ``encoder``'s input embedding trains only the rows of ``token_ids`` (every
    id the training batches will hold, padding included); on leaving it -- also on an error -- the
    encoder has its own embedding back, with the trained values.

    The optimizer must be built inside the block, as it is then the compact rows that it updates.
    An embedding that is frozen, not a plain ``nn.Embedding`` or not known is left as it is.
    """
    try:
        embedding = encoder.get_input_embeddings()
    except NotImplementedError:  # a model class that does not say which module embeds its input
        embedding = None
    plain = (
        type(embedding) is nn.Embedding
        and embedding.weight.requires_grad
        and embedding.max_norm is None
        and not embedding.scale_grad_by_freq
        and not embedding.sparse
    )
    if not plain:
        yield
        return
    ids = torch.from_numpy(np.unique(np.concatenate([np.asarray(i, dtype=np.int64) for i in token_ids])))
    compact = UsedRowsEmbedding(embedding, ids).train(embedding.training)
    encoder.set_input_embeddings(compact)
    try:
        yield
    finally:
        with torch.no_grad():
            embedding.weight.copy_(compact.written_back())
        encoder.set_input_embeddings(embedding)
