"""The one way parameters become typed objects: pydantic, frozen, every unknown key an error.

Every parameter group of ``conf/*/parameters*.yml`` is a :class:`Settings` model (or, for the
domain's own configs that the code copies with ``dataclasses.replace``, a :func:`settings`
dataclass). Kedro validates each before a run starts: a node whose ``params:<group>`` input is
annotated with the model gets it instantiated (``kedro.validation``), so a typo or a bad value stops
``kedro run`` in its first seconds. Outside Kedro (tests, benchmarks, notebooks) :func:`parse` does
the same and says what was wrong in one line per error, naming the full parameter path and, for a
choice, the allowed values.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any, TypeVar

import pydantic
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

# frozen: a run's settings never change under it; forbid: a key nobody reads is a mistake
CONFIG = ConfigDict(frozen=True, extra="forbid")

T = TypeVar("T")
UNKNOWN_KEY = ("extra_forbidden", "unexpected_keyword_argument")  # pydantic's models | dataclasses


class ParameterError(ValueError):
    """A run's parameters are not valid: the message names every bad parameter path."""


class Settings(BaseModel):
    """Base of the parameter groups: immutable, and an unknown key is an error."""

    model_config = CONFIG


def settings(cls: type[T]) -> type[T]:
    """A frozen pydantic dataclass that rejects unknown keys: for domain configs the code copies with
    ``dataclasses.replace`` (which validates the copy again)."""
    return pydantic.dataclasses.dataclass(frozen=True, config=ConfigDict(extra="forbid"))(cls)


def unknown_key(path: str, value: Any) -> str:
    return f"{path}: unknown parameter (no setting reads it), got {value!r}"


def describe(error: ValidationError, path: str = "") -> str:
    """One line per error, each naming the full parameter path: ``student.trainer.optimizer: Input
    should be 'adamw' or 'sgd', got 'adam'``."""
    lines = []
    for item in error.errors(include_url=False):
        where = ".".join([path, *map(str, item["loc"])]).strip(".") or path or error.title
        if item["type"] in UNKNOWN_KEY:
            lines.append(unknown_key(where, item["input"]))
            continue
        message = item["msg"].removeprefix("Value error, ")
        given = "" if item["type"] in ("missing", "value_error", "assertion_error") else f", got {item['input']!r}"
        lines.append(f"{where}: {message}{given}")
    return "; ".join(lines)


@cache
def _adapter(cls: type) -> TypeAdapter:
    return TypeAdapter(cls)  # built once per settings class


def parse(cls: type[T], values: Mapping[str, Any] | T | None, path: str) -> T:
    """``values`` (a YAML mapping) as ``cls``, a ValueError naming ``path`` when they are not valid;
    an instance passes through."""
    if isinstance(values, cls):
        return values
    try:
        return _adapter(cls).validate_python(values if values is not None else {})
    except ValidationError as error:
        raise ValueError(describe(error, path)) from None


def plain(value: Any, mode: str = "python") -> Any:
    """Typed settings (a :class:`Settings` model or a :func:`settings` dataclass) as plain values --
    for a log or a page; ``mode="json"`` gives JSON types (lists for tuples)."""
    return _adapter(type(value)).dump_python(value, mode=mode)
