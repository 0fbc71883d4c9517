"""A convolution over each word's characters, max-pooled to one vector per word (Chiu & Nichols
2016; Ma & Hovy 2016: 30 filters of width 3 over 30-dimensional character embeddings).

Characters are read as the word's UTF-8 bytes: a fixed alphabet of 256, so there is no character
vocabulary to build from the training data or to save with a model.
"""

from __future__ import annotations

import torch
from torch import nn

PADDING_BYTE_ID = 0  # byte b has id b + 1
MAX_WORD_BYTES = 24  # longer words are cut: CoNLL's words rarely reach it
CHAR_EMBEDDING_SIZE = 30
KERNEL_WIDTH = 3


def byte_ids(word: str) -> list[int]:
    return [b + 1 for b in word.encode("utf-8")[:MAX_WORD_BYTES]]


class CharCNN(nn.Module):
    def __init__(self, filters: int):
        super().__init__()
        self.embedding = nn.Embedding(256 + 1, CHAR_EMBEDDING_SIZE, padding_idx=PADDING_BYTE_ID)
        self.convolution = nn.Conv1d(CHAR_EMBEDDING_SIZE, filters, KERNEL_WIDTH, padding=KERNEL_WIDTH // 2)

    def forward(self, word_bytes: torch.Tensor) -> torch.Tensor:
        """(batch, words, bytes) byte ids -> (batch, words, filters)."""
        batch, words, length = word_bytes.shape
        flat = word_bytes.reshape(batch * words, length)
        features = torch.relu(self.convolution(self.embedding(flat).transpose(1, 2)))
        # ReLU outputs are >= 0, so zeroing padding positions keeps them out of the max
        features = features.masked_fill((flat == PADDING_BYTE_ID).unsqueeze(1), 0.0)
        return features.max(dim=-1).values.reshape(batch, words, -1)
