"""Constrained decoding: a reply may only be JSON of the schema's types listing mentions of the sentence.

A strategy with ``constrained: true`` sends, with each sentence, the shape its reply must take as an
OpenAI ``response_format`` (a strict JSON schema): an object with every entity type, in schema order,
each an array of strings drawn from the sentence's own word spans. An OpenAI-compatible server
enforces it itself; the embedded model enforces it token by token with a llama.cpp grammar
(:func:`grammar_from_reply_format`). A small model then cannot invent or misspell a mention, name a
type outside the schema, or ramble after its answer. The format travels in the request's generation
settings, so it is part of the cache key -- and only when the option is on.

Mentions are the sentence's spans of up to ``MAX_MENTION_TOKENS`` tokens that start and end on a
token with a letter or digit (no entity starts with "(" or ends with ","), written as the prompt
writes the sentence: tokens joined by single spaces.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

MAX_MENTION_TOKENS = 10  # CoNLL-2003's longest train entity has 10 tokens
FORMAT_NAME = "entities"


def _wordlike(token: str) -> bool:
    return any(character.isalnum() for character in token)


def mention_candidates(tokens: Sequence[str], max_tokens: int = MAX_MENTION_TOKENS) -> list[str]:
    """Every mention a constrained reply may name, each once, in sentence order."""
    spans = (
        " ".join(tokens[start:end])
        for start in range(len(tokens))
        if _wordlike(tokens[start])
        for end in range(start + 1, min(len(tokens), start + max_tokens) + 1)
        if _wordlike(tokens[end - 1])
    )
    return list(dict.fromkeys(spans))


def span_reply_format(tokens: Sequence[str], types: Sequence[str]) -> dict[str, Any]:
    """The OpenAI ``response_format`` of a span reply to this sentence: ``{"PER": [...], ...}``, every
    type required and in order, nothing else, each list's strings drawn from the sentence's mentions."""
    mention = {"type": "string", "enum": mention_candidates(tokens) or [""]}  # no word: lists stay empty
    # no list can name more entities than the sentence has words; the bound also ends a small model's
    # loops ("British", "German", "British", ... until max_tokens), which a grammar cannot forbid
    lists = {"type": "array", "items": mention, "maxItems": max(1, sum(map(_wordlike, tokens)))}
    schema = {
        "type": "object",
        "properties": dict.fromkeys(types, lists),
        "required": list(types),
        "additionalProperties": False,
    }
    return {"type": "json_schema", "json_schema": {"name": FORMAT_NAME, "strict": True, "schema": schema}}


def with_reply_format(generation: Mapping[str, Any], reply_format: Mapping[str, Any] | None) -> dict[str, Any]:
    """One request's generation settings: the format joins them (and the cache key) only when set."""
    return {**generation, "response_format": reply_format} if reply_format else dict(generation)


def _literal(text: str) -> str:
    """``text`` as a GBNF string literal (UTF-8 kept as is: the model writes "Müller", not "M\\u00fcller")."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return '"' + escaped.replace("\t", "\\t") + '"'


def _json_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def grammar_from_reply_format(reply_format: Mapping[str, Any]) -> str:
    """The llama.cpp (GBNF) grammar of a :func:`span_reply_format`: the same language, with JSON's
    optional whitespace as llama.cpp's own schema converter allows it. Any other format is refused
    (the local backend enforces this one shape, not JSON Schema in general)."""
    try:
        ours = reply_format["type"] == "json_schema" and reply_format["json_schema"]["name"] == FORMAT_NAME
        schema = reply_format["json_schema"]["schema"]
        types = list(schema["required"])
        lists = [schema["properties"][name] for name in types]
        mentions, max_items = lists[0]["items"]["enum"], int(lists[0]["maxItems"])
    except (KeyError, TypeError, IndexError, ValueError):
        ours = False
    if not ours:
        raise ValueError(
            f"the local backend constrains replies to the {FORMAT_NAME!r} span format only "
            f"(llm_ner.llm.constrained.span_reply_format), got response_format {str(reply_format)[:200]}"
        ) from None
    if any(other != lists[0] for other in lists):
        raise ValueError("the local backend's span grammar needs one list format shared by every type")
    pairs = ' "," space '.join(f'{_literal(_json_string(name))} space ":" space list' for name in types)
    return "\n".join(
        [
            f'root ::= "{{" space {pairs} "}}" space',
            f'list ::= "[" space (mention space ("," space mention space){{0,{max_items - 1}}})? "]" space',
            *_mention_rules(mentions),
            'space ::= | " " | "\\n"{1,2} [ \\t]{0,20}',  # llama.cpp's json_schema_to_grammar whitespace
        ]
    )


def _mention_rules(mentions: Sequence[str]) -> list[str]:
    """``mention``: any of ``mentions`` as a JSON string, written as a word trie. The same language as
    one alternative per mention, but llama.cpp's grammar sampler then follows one stack per distinct
    next word instead of one per mention: ~25 ms less per reply token on a 40-token sentence."""
    trie: dict = {}
    for mention in mentions:
        node = trie
        for word in mention.split(" "):
            node = node.setdefault(word, {})
        node[None] = {}  # a mention may end here
    rules: list[str] = []

    def alternatives(node: dict) -> str:
        """A rule for each word that may come next; returns them as alternatives."""
        names = []
        for word, child in node.items():
            if word is None:
                continue
            index = len(rules)  # this word's rule, written once its followers have theirs
            rules.append("")
            following = alternatives(child)
            tail = f' " " ({following})' if following else ""
            tail = f" ({tail.strip()})?" if tail and None in child else tail  # a mention may end after it
            rules[index] = f"w{index} ::= {_literal(_json_string(word)[1:-1])}{tail}"
            names.append(f"w{index}")
        return " | ".join(names)

    first = alternatives(trie) or '""'
    return [f'mention ::= "\\"" ({first}) "\\""', *rules]
