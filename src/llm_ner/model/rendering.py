"""HTML rendering of tagged sentences with entities highlighted (displaCy's look)."""

from __future__ import annotations

import hashlib
import html
from collections.abc import Sequence

from ..tags import bio_to_spans, repair_bio

_MARK = (
    '<mark class="entity" style="background: {colour}; padding: 0.45em 0.6em; margin: 0 0.25em; '
    'line-height: 1; border-radius: 0.35em;">{text}<span style="font-size: 0.8em; font-weight: bold; '
    'line-height: 1; border-radius: 0.35em; vertical-align: middle; margin-left: 0.5rem">{label}</span></mark>'
)


def entity_colour(entity_type: str) -> str:
    """A light colour per type name, the same on every page and run, for any label schema."""
    hue = int(hashlib.sha256(entity_type.encode()).hexdigest()[:8], 16) % 360
    return f"hsl({hue}, 80%, 78%)"


def entities_html(words: Sequence[str], tags: Sequence[str]) -> str:
    """One sentence as an HTML fragment; tags are repaired to valid IOB2 first."""
    tags, _ = repair_bio(list(tags))
    parts, position = [], 0
    for span in bio_to_spans(tags):
        parts.extend(html.escape(w) for w in words[position : span.start])
        text = html.escape(" ".join(words[span.start : span.end]))
        parts.append(_MARK.format(colour=entity_colour(span.label), text=text, label=span.label))
        position = span.end
    parts.extend(html.escape(w) for w in words[position:])
    return " ".join(parts)


def entities_page(title: str, blocks: Sequence[tuple[str, Sequence[str], Sequence[str]]]) -> str:
    """A standalone HTML page: one captioned, highlighted sentence per ``(caption, words, tags)``."""
    body = "\n".join(
        f"<figure><figcaption>{html.escape(caption)}</figcaption>"
        f'<div class="entities" style="line-height: 2.5; direction: ltr">{entities_html(words, tags)}</div></figure>'
        for caption, words, tags in blocks
    )
    types = dict.fromkeys(span.label for _, _, tags in blocks for span in bio_to_spans(repair_bio(list(tags))[0]))
    legend = " ".join(_MARK.format(colour=entity_colour(label), text="", label=label) for label in types)
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:-apple-system,BlinkMacSystemFont,'Segoe UI',Helvetica,Arial,sans-serif;"
        "max-width:60em;margin:2em auto;}figcaption{color:#666;font-size:0.85em;margin-top:1.2em}</style>"
        f"</head><body><h1>{html.escape(title)}</h1><p>{legend}</p>\n{body}\n</body></html>\n"
    )
