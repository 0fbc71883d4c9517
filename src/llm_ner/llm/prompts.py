"""Prompt strategies: chat messages for one sentence, built from templates kept in configuration.

A strategy is a named entry of ``strategies`` in ``parameters_llm_annotation.yml``. Templates use
``string.Template`` placeholders (``$sentence``), not ``str.format``, so JSON braces in a prompt
need no escaping. Placeholders: ``$sentence`` (tokens joined by spaces), ``$tokens`` (each token in
backticks, the seed's format), ``$n_tokens``, ``$examples`` (rendered demonstrations), and what the
label schema says -- ``$entity_types`` (``PER, ORG, ...``), ``$json_shape`` (``{"PER": [...], ...}``),
``$tag_ids`` (the token prompt's id map) and every list of ``type_lists`` (:class:`TypeList`).
Nothing in a prompt names an entity type except through these.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from string import Template
from typing import Any

from ..tags import CONLL_2003, LabelSchema
from .constrained import span_reply_format
from .parsing import REPLY_PARSERS, tags_from_mentions

Messages = list[dict[str, str]]  # chat messages: {"role": ..., "content": ...}
DEMONSTRATION_SOURCES = ("none", "fixed", "knn")
TYPE_ORDERS = ("schema", "alphabetical")
_STRATEGY_FIELDS = {
    "reply",
    "system",
    "user",
    "demonstrations",
    "examples",
    "example_format",
    "example_separator",
    "k",
    "self_verify",
    "expected_output_tokens",
    "result_marker",
    "constrained",
    "description",
}


@dataclass(frozen=True)
class Demonstration:
    """A labelled example sentence shown to the model: its entities per type, optional reasoning."""

    tokens: tuple[str, ...]
    entities: Mapping[str, Sequence[str]]
    reasoning: str = ""
    tags: tuple[str, ...] | None = None  # IOB2 per token, when known (gold sentences, configured examples)

    @property
    def sentence(self) -> str:
        return " ".join(self.tokens)

    def result_json(self, schema: LabelSchema) -> str:
        return json.dumps({t: list(self.entities.get(t, [])) for t in schema.names}, ensure_ascii=False)

    def tag_ids(self, schema: LabelSchema) -> str:
        """The seed's token answer: the tag id of every token, as a Python list (``[0, 0, 5]``)."""
        if self.tags is None:
            raise ValueError(f"example {self.sentence!r} has no tags to show as ids")
        return str([schema.label_to_id[tag] for tag in self.tags])


class ForeignExamples(ValueError):
    """A strategy's fixed examples label types the run's schema does not have (CoNLL examples in a
    DRUG/DOSE run): the strategy cannot be used with this schema."""


def demonstration_from_config(entry: Mapping[str, Any], schema: LabelSchema, where: str) -> Demonstration:
    unknown = set(entry) - {"sentence", "entities", "reasoning"}
    if unknown or "sentence" not in entry:
        raise ValueError(
            f"{where}: each example needs `sentence` and `entities` (optional `reasoning`), got keys {sorted(entry)}"
        )
    entities = dict(entry.get("entities") or {})
    foreign = sorted(set(entities) - set(schema.names))
    if foreign:
        raise ForeignExamples(
            f"{where}: example {entry['sentence'][:40]!r}... labels type(s) {foreign}, not among the "
            f"entity types {schema.describe()}; write examples in your types, or use a strategy "
            f"with `demonstrations: knn` (examples from your train split)"
        )
    tokens = tuple(str(entry["sentence"]).split())
    # the example's mentions placed as LLM replies are, exact matches only
    tags, _ = tags_from_mentions(tokens, [(t, m) for t, ms in entities.items() for m in ms], 100.0)
    return Demonstration(tokens, entities, entry.get("reasoning", ""), tuple(tags))


@dataclass(frozen=True)
class TypeList:
    """A placeholder that lists the entity types: each type through ``item`` -- ``$name``,
    ``$title``, ``$description``, ``$number`` (1-based), ``$examples`` or any of its ``phrases`` --
    joined by ``separator``, the last two by ``last_separator``, in schema or alphabetical order."""

    item: str
    separator: str = ", "
    last_separator: str | None = None
    order: str = "schema"

    def render(self, schema: LabelSchema) -> str:
        types = sorted(schema.types, key=lambda t: t.name) if self.order == "alphabetical" else list(schema.types)
        items = [
            Template(self.item).safe_substitute(
                {key: etype.phrase(key) for key in _placeholders(self.item)},
                name=etype.name,
                title=etype.title,
                description=etype.description,
                number=i + 1,
                examples=", ".join(etype.examples),
            )
            for i, etype in enumerate(types)
        ]
        if self.last_separator is not None and len(items) > 1:
            return self.separator.join(items[:-1]) + self.last_separator + items[-1]
        return self.separator.join(items)


def _placeholders(template: str) -> set[str]:
    """The ``$names`` a template uses."""
    return {
        m.group("named") or m.group("braced")
        for m in Template.pattern.finditer(template)
        if m.group("named") or m.group("braced")
    }


def type_list_from_config(name: str, config: Mapping[str, Any]) -> TypeList:
    unknown = set(config) - {"item", "separator", "last_separator", "order"}
    if unknown or not config.get("item"):
        raise ValueError(
            f"llm_prompts.type_lists.{name}: needs `item` (optional `separator`, `last_separator`, `order`), "
            f"got keys {sorted(config)}"
        )
    if config.get("order", "schema") not in TYPE_ORDERS:
        raise ValueError(f"llm_prompts.type_lists.{name}.order must be one of {TYPE_ORDERS}, got {config['order']!r}")
    return TypeList(**config)


def schema_placeholders(schema: LabelSchema, type_lists: Mapping[str, TypeList] | None = None) -> dict[str, str]:
    """What every template may say about the label schema, by placeholder name."""
    values = {
        "entity_types": ", ".join(schema.names),
        "json_shape": "{" + ", ".join(f'"{name}": [...]' for name in schema.names) + "}",
        "tag_ids": str(schema.label_to_id),
    }
    values.update({name: type_list.render(schema) for name, type_list in (type_lists or {}).items()})
    return values


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
    constrained: bool = False  # the reply is held to the span format by the backend (llm_ner.llm.constrained)
    schema: LabelSchema = CONLL_2003
    schema_values: Mapping[str, str] = field(default_factory=dict)  # schema_placeholders(schema, ...)

    def render_examples(self, demonstrations: Sequence[Demonstration]) -> str:
        template = Template(self.example_format)
        wants_ids = "tag_id_list" in _placeholders(self.example_format)
        return self.example_separator.join(
            template.safe_substitute(
                sentence=d.sentence,
                result=d.result_json(self.schema),
                reasoning=d.reasoning,
                token_list=str(list(d.tokens)),
                tag_id_list=d.tag_ids(self.schema) if wants_ids else "",
            )
            for d in demonstrations
        )

    def reply_format(self, tokens: Sequence[str]) -> dict[str, Any] | None:
        """The ``response_format`` a constrained strategy sends with this sentence (None: free text)."""
        return span_reply_format(tokens, self.schema.names) if self.constrained else None

    def messages(self, tokens: Sequence[str], demonstrations: Sequence[Demonstration] = ()) -> Messages:
        values = {
            **self.schema_values,
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


def strategy_from_config(
    name: str,
    config: Mapping[str, Any],
    schema: LabelSchema = CONLL_2003,
    schema_values: Mapping[str, str] | None = None,
) -> PromptStrategy:
    unknown = set(config) - _STRATEGY_FIELDS
    if unknown:
        raise ValueError(f"strategy {name!r}: unknown field(s) {sorted(unknown)}; allowed: {sorted(_STRATEGY_FIELDS)}")
    if config.get("reply") not in REPLY_PARSERS:
        raise ValueError(
            f"strategy {name!r}: `reply` must be one of {sorted(REPLY_PARSERS)}, got {config.get('reply')!r}"
        )
    if not config.get("user"):
        raise ValueError(f"strategy {name!r}: a `user` template is required")
    source = config.get("demonstrations", "none")
    if source not in DEMONSTRATION_SOURCES:
        raise ValueError(f"strategy {name!r}: `demonstrations` must be one of {DEMONSTRATION_SOURCES}, got {source!r}")
    if config.get("constrained") and (config.get("reply") != "spans" or config.get("result_marker")):
        raise ValueError(
            f"strategy {name!r}: `constrained: true` holds a reply to the span format, so it needs "
            f"`reply: spans` and no `result_marker`"
        )
    examples = tuple(demonstration_from_config(e, schema, f"strategy {name!r}") for e in config.get("examples") or ())
    if source == "fixed" and not examples:
        raise ValueError(f"strategy {name!r}: `demonstrations: fixed` needs a list of `examples`")
    options = {k: v for k, v in config.items() if k not in ("examples", "description")}
    values = dict(schema_values if schema_values is not None else schema_placeholders(schema))
    return PromptStrategy(name=name, examples=examples, schema=schema, schema_values=values, **options)


@dataclass(frozen=True)
class VerificationPrompt:
    """The self-verification pass: the model confirms or rejects each extracted entity."""

    user: str
    system: str | None = None
    candidate_format: str = '$index. "$mention" as $type'
    schema_values: Mapping[str, str] = field(default_factory=dict)  # schema_placeholders(...)

    def messages(self, tokens: Sequence[str], entities: Sequence[tuple[str, str]]) -> Messages:
        candidates = "\n".join(
            Template(self.candidate_format).safe_substitute(index=i + 1, mention=m, type=t)
            for i, (t, m) in enumerate(entities)
        )
        values = {
            **self.schema_values,
            "sentence": " ".join(tokens),
            "candidates": candidates,
            "n_candidates": str(len(entities)),
        }
        messages = []
        if self.system:
            messages.append({"role": "system", "content": Template(self.system).safe_substitute(values)})
        messages.append({"role": "user", "content": Template(self.user).safe_substitute(values)})
        return messages


def verification_from_config(
    config: Mapping[str, Any], schema_values: Mapping[str, str] | None = None
) -> VerificationPrompt:
    unknown = set(config) - {"user", "system", "candidate_format"}
    if unknown or not config.get("user"):
        raise ValueError(
            f"verification: needs `user` (optional `system`, `candidate_format`), got keys {sorted(config)}"
        )
    return VerificationPrompt(**config, schema_values=dict(schema_values or {}))
