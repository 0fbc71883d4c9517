"""NER tags: the label schema (which entity types, from configuration), BIO validation and
repair, and spans <-> BIO.

Everything here works on plain lists of tag strings so that gold data, LLM output and model
predictions all go through the same rules. The entity types are never fixed in code: a run's
:class:`LabelSchema` comes from the ``entity_types`` parameter and is passed to whatever needs it;
:data:`CONLL_2003` is the default one, for notebooks and tests.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

OUTSIDE = "O"
_TYPE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_TYPE_FIELDS = {"description", "title", "aliases", "examples", "phrases"}


@dataclass(frozen=True)
class EntityType:
    """One entity type of a schema, with what prompts say about it."""

    name: str  # the tag suffix: B-<name>, I-<name>
    description: str  # its definition, for prompts
    title: str = ""  # a human name ("Location"); defaults to ``name``
    aliases: tuple[str, ...] = ()  # what an LLM may write instead ("PERSON" for PER), any letter case
    examples: tuple[str, ...] = ()  # example mentions, for prompts that list some
    phrases: Mapping[str, str] = field(default_factory=dict)  # named short texts for prompt type lists

    def phrase(self, key: str) -> str:
        """A named phrase for prompts; a type without it says its title in lower case."""
        return self.phrases.get(key, (self.title or self.name).lower())


@dataclass(frozen=True)
class LabelSchema:
    """The entity types of a corpus, in tag-id order, and the IOB2 tag set derived from them."""

    types: tuple[EntityType, ...]

    def __post_init__(self):
        if not self.types:
            raise ValueError("entity_types: give at least one entity type")
        for etype in self.types:
            if not _TYPE_NAME.match(etype.name):
                raise ValueError(
                    f"entity_types: {etype.name!r} is not a usable type name "
                    "(letters, digits, _; starting with a letter)"
                )
        self._meaning  # noqa: B018 -- an alias naming two types is an error now, not at the first reply

    @cached_property
    def _meaning(self) -> dict[str, str]:
        """Every name and alias, upper case -> its type."""
        meaning: dict[str, str] = {}
        for etype in self.types:
            for word in {etype.name.upper(), *(a.strip().upper() for a in etype.aliases)}:
                other = meaning.setdefault(word, etype.name)
                if other != etype.name:
                    raise ValueError(f"entity_types: {word!r} would mean both {other} and {etype.name}")
        return meaning

    @classmethod
    def from_config(cls, entity_types: Mapping[str, Any]) -> LabelSchema:
        """The schema of the ``entity_types`` parameter: ``{NAME: {description, title?, aliases?,
        examples?, phrases?}}``, in tag-id order."""
        if not isinstance(entity_types, Mapping) or not entity_types:
            raise ValueError(f"entity_types must map each type name to its settings, got {entity_types!r}")
        types = []
        for name, settings in entity_types.items():
            settings = dict(settings or {})
            unknown = set(settings) - _TYPE_FIELDS
            if unknown:
                raise ValueError(
                    f"entity_types.{name}: unknown field(s) {sorted(unknown)}; allowed: {sorted(_TYPE_FIELDS)}"
                )
            if not isinstance(settings.get("description"), str) or not settings["description"].strip():
                raise ValueError(
                    f"entity_types.{name}: a `description` (what the type covers, for prompts) is required"
                )
            types.append(
                EntityType(
                    name=str(name),
                    description=settings["description"].strip(),
                    title=str(settings.get("title") or name),
                    aliases=tuple(str(a) for a in settings.get("aliases") or ()),
                    examples=tuple(str(e) for e in settings.get("examples") or ()),
                    phrases={str(k): str(v) for k, v in (settings.get("phrases") or {}).items()},
                )
            )
        return cls(tuple(types))

    @cached_property
    def names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.types)

    @cached_property
    def labels(self) -> tuple[str, ...]:
        """``O`` then ``B-``/``I-`` per type: the tag ids of models and of the seed's token prompt."""
        return (OUTSIDE,) + tuple(f"{prefix}-{name}" for name in self.names for prefix in ("B", "I"))

    @cached_property
    def label_to_id(self) -> dict[str, int]:
        return {label: i for i, label in enumerate(self.labels)}

    def type_of(self, written: Any) -> str | None:
        """The type an LLM meant by ``written`` (a name or an alias, any case), or None."""
        if not isinstance(written, str):
            return None
        return self._meaning.get(written.strip().upper())

    def is_known(self, tag: str) -> bool:
        return tag in self.label_to_id

    def unknown_tags(self, tags: Iterable[str]) -> list[str]:
        return [tag for tag in tags if not self.is_known(tag)]

    def describe(self) -> str:
        return ", ".join(self.names)

    def check_model(self, labels: Sequence[str], what: str = "the model") -> None:
        """A model's head predicts exactly this schema's tags, or it is an error naming both."""
        if tuple(labels) != self.labels:
            raise ValueError(
                f"{what} was trained for the entity types {', '.join(entity_types_of(labels))} "
                f"(tags {', '.join(labels)}), but this run's entity_types are {self.describe()} "
                f"(tags {', '.join(self.labels)}): train it again, or run in the environment it was trained in"
            )


def entity_types_of(labels: Sequence[str]) -> tuple[str, ...]:
    """The entity types of a tag set (a model's ``labels``), in tag-id order."""
    return tuple(dict.fromkeys(label[2:] for label in labels if label != OUTSIDE))


# CoNLL-2003's four types, the project's default (conf/base/parameters.yml `entity_types` holds
# their prompt definitions); the aliases are the names LLMs write for them.
CONLL_2003 = LabelSchema(
    (
        EntityType("PER", "", "Person", ("PERSON", "PERSONS", "PEOPLE")),
        EntityType("ORG", "", "Organization", ("ORGANIZATION", "ORGANISATION", "ORGANIZATIONS")),
        EntityType("LOC", "", "Location", ("LOCATION", "LOCATIONS", "GPE")),
        EntityType("MISC", "", "Miscellaneous", ("MISCELLANEOUS",)),
    )
)


@dataclass(frozen=True)
class Span:
    """An entity over tokens ``start`` (inclusive) to ``end`` (exclusive)."""

    start: int
    end: int
    label: str


@dataclass(frozen=True)
class RepairReport:
    """What :func:`repair_bio` changed in one tag sequence."""

    orphans_fixed: int = 0  # I-X that did not continue an X entity, turned into B-X
    unknown_tags: tuple[str, ...] = ()  # tags outside the schema (or not IOB at all), turned into O

    @property
    def changed(self) -> bool:
        return bool(self.orphans_fixed or self.unknown_tags)


def is_iob(tag: str) -> bool:
    """``O``, ``B-X`` or ``I-X`` for some type name X -- the shape, whatever the schema."""
    return tag == OUTSIDE or (tag[:2] in ("B-", "I-") and bool(_TYPE_NAME.match(tag[2:])))


def repair_bio(tags: Sequence[str], schema: LabelSchema | None = None) -> tuple[list[str], RepairReport]:
    """Return valid IOB2 tags and a report of what was changed.

    * an ``I-X`` that does not follow ``B-X``/``I-X`` becomes ``B-X`` -- this is also exactly
      the IOB1 -> IOB2 conversion, since IOB1 starts entities with ``I-``;
    * a tag that is not IOB (``[CLS]``), or with a ``schema`` one outside it (``B-DATE`` for
      CoNLL), becomes ``O`` and is reported.
    """
    known = schema.is_known if schema is not None else is_iob
    repaired: list[str] = []
    orphans = 0
    unknown: list[str] = []
    previous = OUTSIDE
    for tag in tags:
        if not known(tag):
            unknown.append(tag)
            tag = OUTSIDE
        elif tag.startswith("I-") and previous[2:] != tag[2:]:
            tag = "B-" + tag[2:]
            orphans += 1
        repaired.append(tag)
        previous = tag
    return repaired, RepairReport(orphans_fixed=orphans, unknown_tags=tuple(unknown))


def bio_to_spans(tags: Sequence[str]) -> list[Span]:
    """Entity spans of a valid IOB2 sequence (run :func:`repair_bio` first on untrusted tags)."""
    spans: list[Span] = []
    start, label = None, None
    for i, tag in enumerate(list(tags) + [OUTSIDE]):
        continues = tag.startswith("I-") and label == tag[2:]
        if start is not None and not continues:
            spans.append(Span(start, i, label))
            start, label = None, None
        if tag.startswith("B-") or (tag.startswith("I-") and start is None):
            start, label = i, tag[2:]
    return spans


def spans_to_bio(spans: Iterable[Span], length: int) -> list[str]:
    """IOB2 tags for ``length`` tokens; when spans overlap, the earlier-starting (then longer) one wins."""
    tags = [OUTSIDE] * length
    for span in sorted(spans, key=lambda s: (s.start, -(s.end - s.start))):
        if not 0 <= span.start < span.end <= length:
            raise ValueError(f"span {span} lies outside a sentence of {length} tokens")
        if not _TYPE_NAME.match(span.label):
            raise ValueError(f"span label {span.label!r} is not an entity type name")
        if any(tag != OUTSIDE for tag in tags[span.start : span.end]):
            continue
        tags[span.start] = f"B-{span.label}"
        for i in range(span.start + 1, span.end):
            tags[i] = f"I-{span.label}"
    return tags
