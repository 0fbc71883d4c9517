"""The NER tagger: a Hugging Face encoder, an optional BiLSTM, dropout and a linear layer over the tags.

As in the seed project (BERT + BiLSTM), each word is represented by its first sub-word -- with an
uncased encoder, joined by an embedding of the word's case/shape class -- and the BiLSTM then runs
over words, not sub-words. A :class:`Tagger` carries its tokenizer and label list, and
saves to / loads from a self-contained folder (safetensors weights, configs, tokenizer, labels),
so a reloaded model never needs the network.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors.torch import load_model, save_file
from torch import nn
from transformers import AutoConfig, AutoModel, AutoTokenizer, set_seed

from ..tags import CONLL_2003
from .config import TaggerConfig
from .encoding import IGNORED_LABEL, EncodedSentence, encode_sentences
from .word_shapes import PADDING_SHAPE_ID, WORD_SHAPES

WEIGHTS_FILE = "model.safetensors"
TAGGER_CONFIG_FILE = "tagger_config.json"
LABELS_FILE = "labels.json"
ENCODER_FOLDER = "encoder"  # the encoder's config.json (architecture only; weights are in WEIGHTS_FILE)
TOKENIZER_FOLDER = "tokenizer"
PACKAGE_PREFIX = "package:"


def resolve_encoder(encoder: str) -> str:
    """``package:<module>`` -> the folder returned by ``<module>.get_model_path()``; else unchanged."""
    if not encoder.startswith(PACKAGE_PREFIX):
        return encoder
    module_name = encoder[len(PACKAGE_PREFIX) :]
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ValueError(f"encoder {encoder!r}: cannot import package module {module_name!r}") from error
    if not hasattr(module, "get_model_path"):
        raise ValueError(f"encoder {encoder!r}: module {module_name!r} has no get_model_path()")
    return str(module.get_model_path())


def tokenizer_lowercases(tokenizer) -> bool:
    """Whether the tokenizer itself maps upper case to lower case (checked, not read from a flag)."""
    return (
        tokenizer("Paris", add_special_tokens=False)["input_ids"]
        == tokenizer("paris", add_special_tokens=False)["input_ids"]
    )


def needs_manual_lowercasing(tokenizer) -> bool:
    """An uncased vocabulary (``do_lower_case``) whose tokenizer does not lowercase: words must be
    lowercased before tokenisation, or every capitalised word -- most entities -- becomes [UNK]."""
    return bool(tokenizer.init_kwargs.get("do_lower_case", False)) and not tokenizer_lowercases(tokenizer)


def resolve_word_features(word_features: str, tokenizer) -> str:
    """``auto`` -> ``shape`` when words reach the encoder lowercased (by its tokenizer or by us),
    since capitalisation then only reaches the tagger through the shape classes; else ``none``."""
    if word_features != "auto":
        return word_features
    uncased = tokenizer_lowercases(tokenizer) or needs_manual_lowercasing(tokenizer)
    return "shape" if uncased else "none"


class Tagger(nn.Module):
    def __init__(
        self, encoder: nn.Module, tokenizer, config: TaggerConfig, labels: tuple[str, ...] = CONLL_2003.labels
    ):
        super().__init__()
        # `auto` is resolved once, here, so that the saved config rebuilds the very same network
        config = dataclasses.replace(config, word_features=resolve_word_features(config.word_features, tokenizer))
        self.config = config
        self.labels = tuple(labels)
        if len(set(self.labels)) != len(self.labels):
            raise ValueError(f"tagger labels must be distinct, got {self.labels}")
        self.tokenizer = tokenizer
        self.lowercase_words = needs_manual_lowercasing(tokenizer)
        self.encoder = encoder
        hidden = encoder.config.hidden_size
        if config.word_features == "shape":
            self.shape_embedding = nn.Embedding(
                len(WORD_SHAPES) + 1, config.shape_embedding_size, padding_idx=PADDING_SHAPE_ID
            )
            hidden += config.shape_embedding_size
        else:
            self.shape_embedding = None
        if config.head == "bilstm":
            self.lstm = nn.LSTM(hidden, config.lstm_hidden_size, batch_first=True, bidirectional=True)
            hidden = 2 * config.lstm_hidden_size
        else:
            self.lstm = None
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(hidden, len(self.labels))
        # built last, so that a multitask tagger's token parts start from the same seeded weights
        # as a tagger without it
        self.sequence_head = None
        if config.sequence_classes:
            width = encoder.config.hidden_size
            self.sequence_head = nn.Sequential(
                nn.Linear(width, width),
                nn.Tanh(),
                nn.Dropout(config.dropout),
                nn.Linear(width, len(config.sequence_classes)),
            )

    @classmethod
    def build(cls, config: TaggerConfig, seed: int = 13, labels: tuple[str, ...] = CONLL_2003.labels) -> Tagger:
        """A new tagger: the configured encoder and a randomly initialised head (seeded)."""
        path = resolve_encoder(config.encoder)
        tokenizer = AutoTokenizer.from_pretrained(path)
        set_seed(seed)
        if config.encoder_weights == "pretrained":
            encoder = AutoModel.from_pretrained(path)
        else:
            encoder_config = AutoConfig.from_pretrained(path, **config.encoder_overrides)
            encoder = AutoModel.from_config(encoder_config)
        return cls(encoder, tokenizer, config, labels)

    def forward(self, input_ids, attention_mask, word_starts, word_mask, word_shapes=None) -> torch.Tensor:
        """Logits of shape (batch, words, labels); rows where ``word_mask`` is False are padding.
        ``word_shapes`` (shape ids per word, see :func:`~llm_ner.model.encoding.collate`) is read
        only by a tagger with ``word_features: shape``."""
        return self.heads(input_ids, attention_mask, word_starts, word_mask, word_shapes)[0]

    def heads(
        self,
        input_ids,
        attention_mask,
        word_starts,
        word_mask,
        word_shapes=None,
        token: bool = True,
        sequence: bool = False,
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """``(token logits, sequence logits)`` from one encoder pass; a head not asked for is not run
        (None), so that it neither costs time nor draws dropout masks."""
        subwords = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        sequence_logits = None
        if sequence:
            if self.sequence_head is None:
                raise ValueError("this tagger has no sequence head: build it with TaggerConfig.sequence_classes")
            sequence_logits = self.sequence_head(subwords[:, 0])
        if not token:
            return None, sequence_logits
        index = word_starts.unsqueeze(-1).expand(-1, -1, subwords.size(-1))
        words = torch.gather(subwords, 1, index)
        if self.shape_embedding is not None:
            if word_shapes is None:
                raise ValueError("a tagger with word_features: shape needs word_shapes (collate gives them)")
            words = torch.cat([words, self.shape_embedding(word_shapes).to(words.dtype)], dim=-1)
        if self.lstm is not None:
            # packed, so that padding never flows into the backward direction of real words
            lengths = word_mask.sum(dim=1).clamp(min=1).cpu()
            packed = nn.utils.rnn.pack_padded_sequence(words.float(), lengths, batch_first=True, enforce_sorted=False)
            # in fp32 even under mixed precision: cuDNN's half-precision LSTM support varies by
            # dtype and version, and the LSTM is a small share of the compute
            with torch.autocast(device_type=words.device.type, enabled=False):
                output, _ = self.lstm(packed)
            words, _ = nn.utils.rnn.pad_packed_sequence(output, batch_first=True, total_length=word_mask.size(1))
        return self.classifier(self.dropout(words)), sequence_logits

    def token_losses(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of every word's logits against its label id, flattened (batch x words), in
        fp32; 0 where the label is ignored (padding, words cut off): training weights and averages
        them, evaluation sums them."""
        return nn.functional.cross_entropy(
            logits.float().flatten(0, 1), labels.flatten(), ignore_index=IGNORED_LABEL, reduction="none"
        )

    @property
    def label_to_id(self) -> dict[str, int]:
        """Tag -> output index: the one mapping used both to encode training tags and to decode outputs."""
        return {label: i for i, label in enumerate(self.labels)}

    def encode(
        self, sentences: Sequence[Sequence[str]], tags: Sequence[Sequence[str]] | None = None
    ) -> list[EncodedSentence]:
        """Sentences (and tags) as this tagger reads them: its tokenizer, length limit, casing, label order."""
        return encode_sentences(
            self.tokenizer,
            sentences,
            tags,
            self.config.max_subwords,
            self.lowercase_words,
            label_to_id=self.label_to_id,
        )

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        # Copies, not the live tensors: on CUDA, cuDNN packs the LSTM's weights into one shared
        # buffer, which safetensors refuses to save as it is.
        state = {name: tensor.detach().to("cpu", copy=True).contiguous() for name, tensor in self.state_dict().items()}
        save_file(state, str(directory / WEIGHTS_FILE), metadata={"format": "pt"})
        self.encoder.config.save_pretrained(directory / ENCODER_FOLDER)
        self.tokenizer.save_pretrained(directory / TOKENIZER_FOLDER)
        (directory / TAGGER_CONFIG_FILE).write_text(json.dumps(dataclasses.asdict(self.config), indent=2))
        (directory / LABELS_FILE).write_text(json.dumps(list(self.labels), indent=2))

    @classmethod
    def load(cls, directory: str | Path, device: str | torch.device = "cpu") -> Tagger:
        directory = Path(directory)
        if not (directory / WEIGHTS_FILE).is_file():
            raise FileNotFoundError(f"{directory} holds no {WEIGHTS_FILE}: not a saved tagger")
        values = json.loads((directory / TAGGER_CONFIG_FILE).read_text())
        values.setdefault("word_features", "none")  # saved before word features existed
        values.setdefault("sequence_classes", ())
        config = TaggerConfig(**values)
        labels = tuple(json.loads((directory / LABELS_FILE).read_text()))
        tokenizer = AutoTokenizer.from_pretrained(directory / TOKENIZER_FOLDER)
        encoder = AutoModel.from_config(AutoConfig.from_pretrained(directory / ENCODER_FOLDER))
        tagger = cls(encoder, tokenizer, config, labels)
        load_model(tagger, str(directory / WEIGHTS_FILE), device=str(device))
        return tagger.to(device).eval()
