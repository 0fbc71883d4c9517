"""Prompt strategies: chat messages for one sentence, built from templates kept in configuration.

A strategy is a named entry of ``strategies`` in ``parameters_llm_annotation.yml``. Templates use
``string.Template`` placeholders (``$sentence``), not ``str.format``, so JSON braces in a prompt
need no escaping. Placeholders: ``$sentence`` (tokens joined by spaces), ``$tokens`` (each token in
backticks, the seed's format), ``$n_tokens``, ``$examples`` (rendered demonstrations).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from string import Template
from typing import Any, Mapping, Sequence

from ..tags import ENTITY_TYPES
from .parsing import REPLY_PARSERS

Messages = list[dict[str, str]]  # chat messages: {"role": ..., "content": ...}
DEMONSTRATION_SOURCES = ("none", "fixed", "knn")
_STRATEGY_FIELDS = {
    "reply", "system", "user", "demonstrations", "examples", "example_format", "example_separator", "k",
    "self_verify", "expected_output_tokens", "result_marker", "description",
}


@dataclass(frozen=True)
class Demonstration:
    """A labelled example sentence shown to the model: its entities per type, optional reasoning."""

    tokens: tuple[str, ...]
    entities: Mapping[str, Sequence[str]]
    reasoning: str = ""

    @property
    def sentence(self) -> str:
        return " ".join(self.tokens)

    def result_json(self) -> str:
        return json.dumps({t: list(self.entities.get(t, [])) for t in ENTITY_TYPES}, ensure_ascii=False)


def demonstration_from_config(entry: Mapping[str, Any]) -> Demonstration:
    unknown = set(entry) - {"sentence", "entities", "reasoning"}
    if unknown or "sentence" not in entry:
        raise ValueError(f"each example needs `sentence` and `entities` (optional `reasoning`), got keys {sorted(entry)}")
    return Demonstration(tuple(str(entry["sentence"]).split()), dict(entry.get("entities") or {}), entry.get("reasoning", ""))


@dataclass(frozen=True)
class PromptStrategy:
    name: str
    reply: str  # how to read the reply: a key of parsing.REPLY_PARSERS
    user: str
    system: str | None = None
    demonstrations: str = "none"
    examples: tuple[Demonstration, ...] = ()
    example_format: str = "Sentence: $sentence\nResult: $result"
    example_separator: str = "\n\n"
    k: int = 4
    self_verify: bool = False
    expected_output_tokens: int | None = None  # for the dry-run cost estimate; None = generation max_tokens
    result_marker: str | None = None  # chain-of-thought: the answer is the JSON after this text ("Result:")

    def render_examples(self, demonstrations: Sequence[Demonstration]) -> str:
        template = Template(self.example_format)
        return self.example_separator.join(
            template.safe_substitute(sentence=d.sentence, result=d.result_json(), reasoning=d.reasoning)
            for d in demonstrations
        )

    def messages(self, tokens: Sequence[str], demonstrations: Sequence[Demonstration] = ()) -> Messages:
        values = {
            "sentence": " ".join(tokens),
            "tokens": ", ".join(f"`{t}`" for t in tokens),
            "n_tokens": str(len(tokens)),
            "examples": self.render_examples(demonstrations),
        }
        messages = []
        if self.system:
            messages.append({"role": "system", "content": Template(self.system).safe_substitute(values)})
        messages.append({"role": "user", "content": Template(self.user).safe_substitute(values)})
        return messages


def strategy_from_config(name: str, config: Mapping[str, Any]) -> PromptStrategy:
    unknown = set(config) - _STRATEGY_FIELDS
    if unknown:
        raise ValueError(f"strategy {name!r}: unknown field(s) {sorted(unknown)}; allowed: {sorted(_STRATEGY_FIELDS)}")
    if config.get("reply") not in REPLY_PARSERS:
        raise ValueError(f"strategy {name!r}: `reply` must be one of {sorted(REPLY_PARSERS)}, got {config.get('reply')!r}")
    if not config.get("user"):
        raise ValueError(f"strategy {name!r}: a `user` template is required")
    source = config.get("demonstrations", "none")
    if source not in DEMONSTRATION_SOURCES:
        raise ValueError(f"strategy {name!r}: `demonstrations` must be one of {DEMONSTRATION_SOURCES}, got {source!r}")
    examples = tuple(demonstration_from_config(e) for e in config.get("examples") or ())
    if source == "fixed" and not examples:
        raise ValueError(f"strategy {name!r}: `demonstrations: fixed` needs a list of `examples`")
    options = {k: v for k, v in config.items() if k not in ("examples", "description")}
    return PromptStrategy(name=name, examples=examples, **options)


@dataclass(frozen=True)
class VerificationPrompt:
    """The self-verification pass: the model confirms or rejects each extracted entity."""

    user: str
    system: str | None = None
    candidate_format: str = '$index. "$mention" as $type'

    def messages(self, tokens: Sequence[str], entities: Sequence[tuple[str, str]]) -> Messages:
        candidates = "\n".join(
            Template(self.candidate_format).safe_substitute(index=i + 1, mention=m, type=t) for i, (t, m) in enumerate(entities)
        )
        values = {"sentence": " ".join(tokens), "candidates": candidates, "n_candidates": str(len(entities))}
        messages = []
        if self.system:
            messages.append({"role": "system", "content": Template(self.system).safe_substitute(values)})
        messages.append({"role": "user", "content": Template(self.user).safe_substitute(values)})
        return messages


def verification_from_config(config: Mapping[str, Any]) -> VerificationPrompt:
    unknown = set(config) - {"user", "system", "candidate_format"}
    if unknown or not config.get("user"):
        raise ValueError(f"verification: needs `user` (optional `system`, `candidate_format`), got keys {sorted(config)}")
    return VerificationPrompt(**config)
