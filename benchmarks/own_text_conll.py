"""The "own text" route measured on text that is not CoNLL-formatted: CoNLL-2003 documents re-joined
into running text, with gold used only where people would give it.

Three steps, each printing what it measured:

1. ``documents``: every CoNLL document of a split written as ``DIR/<split>-<document_id:04d>.txt``,
   one detokenised CoNLL sentence per line (what a news feed looks like: headline, dateline, then
   sentences), and beside the folder (``DIR.gold.jsonl``, outside it so that reading the folder as
   documents does not pick it up) the gold: per document its sentences, tokens and entities as
   character offsets into the written text.
2. ``match``: the project's segmenter (``llm_ner.documents``) run on the written documents and
   compared with the gold -- the share of CoNLL sentences and tokens whose character span it
   reproduces exactly, per ``line_breaks`` mode, and the gold entities its sentence boundaries cut.
3. ``annotate``: the people. Every task of a Label Studio project that nobody annotated yet gets one
   annotation whose regions are the gold entities inside the task's sentence, submitted through
   Label Studio's API as the labeling interface does, with a lead time from an assumed speed.

    .venv/bin/python benchmarks/own_text_conll.py documents --split test --out data/benchmarks/own_text/test
    .venv/bin/python benchmarks/own_text_conll.py match data/benchmarks/own_text/test
    .venv/bin/python benchmarks/own_text_conll.py annotate --project "own text" \\
        --gold data/benchmarks/own_text/test.gold.jsonl        # $LABEL_STUDIO_URL / $LABEL_STUDIO_API_KEY

Why not ``benchmarks/serving.py``'s ``detokenise``: it returns a string without token offsets and
leaves quotes spaced; the gold here needs every token's offset from the same pass that writes it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from llm_ner.corpus import load_split
from llm_ner.documents import LINE_BREAKS, SegmenterSettings, read_documents, segment
from llm_ner.label_studio.server import LabelStudioClient, LabelStudioError
from llm_ner.label_studio.tasks import FROM_NAME, TO_NAME
from llm_ner.tags import bio_to_spans

SPLITS = {"test": "test", "validation": "valid", "train": "train"}  # our name -> the corpus loader's
GOLD_SUFFIX = ".gold.jsonl"
QUOTE = '"'
# tokens written without the space before them: punctuation that closes, clitics (Reuters splits
# "can't" as "ca n't" and "Clinton's" as "Clinton 's"), a lone apostrophe (a plural possessive)
_ATTACHES_LEFT = re.compile(r"[.,;:!?%)\]}]|\.\.\.|'|'[sSdDmM]|'(?:ll|re|ve|LL|RE|VE)|n't|N'T")
_ATTACHES_RIGHT = frozenset("([{$")  # tokens written without the space after them

Offsets = tuple[int, int]


def gold_path(folder: str | Path) -> Path:
    """Where the gold of a documents folder lies: beside it, ``DIR.gold.jsonl``."""
    folder = Path(folder)
    return folder.with_name(folder.name + GOLD_SUFFIX)


# ---------------------------------------------------------------- 1. documents


def _quote_roles(sentences: Sequence[Sequence[str]]) -> list[list[bool | None]]:
    """Per token: True for an opening double quote, False for a closing one, None for any other.

    Reuters quotes often span sentences (opened in one, closed in the next), so which quote closes
    is counted over the whole document, not per sentence; a quote that starts a sentence always
    opens (a new quoted paragraph repeats the opening quote without closing the last)."""
    roles, open_ = [], False
    for tokens in sentences:
        sentence_roles: list[bool | None] = []
        for i, token in enumerate(tokens):
            if token != QUOTE:
                sentence_roles.append(None)
                continue
            opening = i == 0 or not open_
            sentence_roles.append(opening)
            open_ = opening
        roles.append(sentence_roles)
    return roles


def _space_before(token: str, role: bool | None, previous: str | None, previous_role: bool | None) -> bool:
    """Whether running text puts a space between ``previous`` and ``token``."""
    if previous is None:
        return False
    if role is False or (role is None and _ATTACHES_LEFT.fullmatch(token)):
        return False  # a closing quote or closing punctuation sticks to the word before
    return not (previous_role is True or previous in _ATTACHES_RIGHT)


def written_sentence(tokens: Sequence[str], roles: Sequence[bool | None], at: int) -> tuple[str, list[Offsets]]:
    """One sentence as running text and each token's (start, end) in the document, the sentence
    starting at offset ``at`` -- built together so that the offsets are exact by construction."""
    pieces, offsets, position = [], [], at
    previous, previous_role = None, None
    for token, role in zip(tokens, roles):
        if _space_before(token, role, previous, previous_role):
            pieces.append(" ")
            position += 1
        pieces.append(token)
        offsets.append((position, position + len(token)))
        position += len(token)
        previous, previous_role = token, role
    return "".join(pieces), offsets


def written_document(sentences: pd.DataFrame, document_id: str) -> tuple[str, dict[str, Any]]:
    """A CoNLL document as running text, one sentence per line, and its gold in character offsets."""
    token_lists = [list(t) for t in sentences["tokens"]]
    lines, gold = [], {"document_id": document_id, "sentences": [], "tokens": [], "entities": []}
    position = 0
    for tokens, roles, tags in zip(token_lists, _quote_roles(token_lists), sentences["ner_tags"]):
        line, offsets = written_sentence(tokens, roles, position)
        gold["sentences"].append({"start": offsets[0][0], "end": offsets[-1][1]})
        gold["tokens"].extend({"start": s, "end": e, "text": t} for t, (s, e) in zip(tokens, offsets))
        gold["entities"].extend(
            {"start": offsets[span.start][0], "end": offsets[span.end - 1][1], "label": span.label}
            for span in bio_to_spans(list(tags))
        )
        lines.append(line)
        position += len(line) + 1  # the line break
    text = "\n".join(lines) + "\n"
    for token in gold["tokens"]:
        assert text[token["start"] : token["end"]] == token["text"], (document_id, token)
    return text, gold


def write_documents(split: str, out: Path, documents: int | None) -> dict[str, int]:
    """Write the split's documents into ``out`` and their gold beside it; what was written."""
    table = load_split(SPLITS[split])
    document_ids = list(dict.fromkeys(table["document_id"]))[:documents]
    out.mkdir(parents=True, exist_ok=True)
    counts = {"documents": 0, "sentences": 0, "tokens": 0, "entities": 0, "characters": 0}
    with gold_path(out).open("w", encoding="utf-8") as gold_file:
        for conll_id in document_ids:
            stem = f"{split}-{int(conll_id):04d}"
            text, gold = written_document(table[table["document_id"] == conll_id], stem)
            (out / f"{stem}.txt").write_text(text, encoding="utf-8")
            gold_file.write(json.dumps(gold) + "\n")
            counts["documents"] += 1
            counts["characters"] += len(text)
            for key in ("sentences", "tokens", "entities"):
                counts[key] += len(gold[key])
    return counts


# ---------------------------------------------------------------- 2. match


def read_gold(path: str | Path) -> dict[str, dict[str, Any]]:
    """The gold file's documents by ``document_id``."""
    with Path(path).open(encoding="utf-8") as handle:
        return {record["document_id"]: record for record in map(json.loads, handle) if record}


def _crossing(entity: dict[str, Any], start: int, end: int) -> bool:
    """Whether the entity overlaps the span [start, end) without lying inside it."""
    overlaps = entity["start"] < end and entity["end"] > start
    return overlaps and not (start <= entity["start"] and entity["end"] <= end)


def _document_match(gold: dict[str, Any], sentences: pd.DataFrame) -> dict[str, int]:
    """One document's counts: gold spans the segmenter reproduced, and entities its boundaries cut."""
    spans = list(zip(sentences["start"], sentences["end"]))
    exact = set(spans)
    token_starts = {s for starts in sentences["token_starts"] for s in starts}
    token_ends = {e for ends in sentences["token_ends"] for e in ends}
    tokens = {
        (s, e) for starts, ends in zip(sentences["token_starts"], sentences["token_ends"]) for s, e in zip(starts, ends)
    }
    cut = [e for e in gold["entities"] if any(_crossing(e, s, t) for s, t in spans)]
    return {
        "gold sentences": len(gold["sentences"]),
        "segmenter sentences": len(spans),
        "exact sentences": sum((s["start"], s["end"]) in exact for s in gold["sentences"]),
        "gold tokens": len(gold["tokens"]),
        "segmenter tokens": len(tokens),
        "exact tokens": sum((t["start"], t["end"]) in tokens for t in gold["tokens"]),
        "sentences cutting an entity": sum(any(_crossing(e, s, t) for e in gold["entities"]) for s, t in spans),
        "entities cut": len(cut),
        "entities": len(gold["entities"]),
        # a region of whole segmenter tokens can reproduce these exactly (word granularity in the UI)
        "entities on token bounds": sum(
            e["start"] in token_starts and e["end"] in token_ends for e in gold["entities"]
        ),
    }


def match(folder: Path, line_breaks: str) -> dict[str, Any]:
    """The segmenter's sentences and tokens of every written document against the gold, summed."""
    gold = read_gold(gold_path(folder))
    documents = read_documents(folder)
    missing = set(gold) - set(documents["document_id"])
    if missing:
        raise SystemExit(f"{len(missing)} gold documents have no file in {folder}, e.g. {sorted(missing)[0]}")
    sentences = segment(documents, SegmenterSettings(line_breaks=line_breaks))
    by_document = dict(list(sentences.groupby("document_id", sort=False)))
    empty = sentences.iloc[0:0]
    totals: dict[str, Any] = {}
    for document_id, record in gold.items():
        for key, value in _document_match(record, by_document.get(document_id, empty)).items():
            totals[key] = totals.get(key, 0) + value
    totals["sentence share"] = totals["exact sentences"] / totals["gold sentences"]
    totals["token share"] = totals["exact tokens"] / totals["gold tokens"]
    return {"line_breaks": line_breaks, **totals}


def match_table(rows: Iterable[dict[str, Any]]) -> str:
    """The match figures, one row per ``line_breaks`` mode, shares as percentages."""
    table = pd.DataFrame(list(rows)).set_index("line_breaks")
    for share in ("sentence share", "token share"):
        table[share] = (100 * table[share]).map("{:.2f} %".format)
    order = ["sentence share", "exact sentences", "gold sentences", "segmenter sentences", "token share"]
    order += ["exact tokens", "gold tokens", "segmenter tokens", "sentences cutting an entity", "entities cut"]
    order += ["entities on token bounds", "entities"]
    return table[order].T.to_string()


# ---------------------------------------------------------------- 3. annotate


def _already_annotated(task: dict[str, Any]) -> bool:
    """Whether anyone submitted or skipped the task (a skip is an annotation too: was_cancelled)."""
    done = int(task.get("total_annotations") or 0) + int(task.get("cancelled_annotations") or 0)
    return done > 0 or bool(task.get("annotations"))


def regions_for(data: dict[str, Any], gold: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    """The gold entities inside a task's sentence as Label Studio regions, offsets relative to the
    sentence; an entity the segmenter cut is clipped to the sentence. The regions and how many were
    clipped."""
    text, offset = data["text"], int(data["offset"])
    start, end = offset, offset + len(text)
    regions, clipped = [], 0
    for entity in gold["entities"]:
        if not (entity["start"] < end and entity["end"] > start):
            continue
        clipped += _crossing(entity, start, end)
        first, last = max(entity["start"], start) - offset, min(entity["end"], end) - offset
        value = {"start": first, "end": last, "text": text[first:last], "labels": [entity["label"]]}
        region_id = f"{data['document_id']}-{data['sentence_id']}-{len(regions)}"
        regions.append(
            {"id": region_id, "from_name": FROM_NAME, "to_name": TO_NAME, "type": "labels", "origin": "manual"}
            | {"value": value}
        )
    return regions, clipped


def _check_text(data: dict[str, Any], folder: Path) -> None:
    """The task's text is its document's text at its offset (else every region would be misplaced);
    checked when the written documents lie beside the gold file."""
    file = folder / f"{data['document_id']}.txt"
    if not file.exists():
        return
    written = file.read_text(encoding="utf-8")[int(data["offset"]) :][: len(data["text"])]
    if written != data["text"]:
        raise SystemExit(f"task of sentence {data['sentence_id']}: its text is not {file}'s at offset {data['offset']}")


def annotate(client: LabelStudioClient, title: str, gold_file: Path, tokens_per_hour: float) -> dict[str, Any]:
    """One gold annotation for every task of project ``title`` that has none yet; what was done."""
    project_id = client.project_id(title)
    if project_id is None:
        raise SystemExit(f"Label Studio at {client.url} has no project called {title!r}")
    gold = read_gold(gold_file)
    folder = gold_file.with_name(gold_file.name.removesuffix(GOLD_SUFFIX))
    counts = {"tasks": 0, "already annotated": 0, "not in the gold": 0, "annotated": 0, "regions": 0}
    counts |= {"clipped entities": 0, "tokens": 0, "lead time s": 0.0}
    for task in client.tasks(project_id):
        counts["tasks"] += 1
        data = task["data"]
        if _already_annotated(task):
            counts["already annotated"] += 1
            continue
        if data.get("document_id") not in gold:
            counts["not in the gold"] += 1
            continue
        _check_text(data, folder)
        regions, clipped = regions_for(data, gold[data["document_id"]])
        lead_time = len(data["token_starts"]) / tokens_per_hour * 3600
        client.annotate(task["id"], regions, lead_time)
        counts["annotated"] += 1
        counts["regions"] += len(regions)
        counts["clipped entities"] += clipped
        counts["tokens"] += len(data["token_starts"])
        counts["lead time s"] += lead_time
    return {"project id": project_id, **counts}


# ---------------------------------------------------------------- command line


def _print_counts(counts: dict[str, Any]) -> None:
    """One indented line per figure."""
    for key, value in counts.items():
        print(f"  {key:<28} {value:,.1f}" if isinstance(value, float) else f"  {key:<28} {value:,}")


def _parser() -> argparse.ArgumentParser:
    """The three subcommands and their options."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    documents = commands.add_parser("documents", help="write CoNLL documents as running text, and their gold")
    documents.add_argument("--split", choices=list(SPLITS), default="test")
    documents.add_argument("--out", type=Path, required=True, help="folder of .txt files; gold beside it")
    documents.add_argument("--documents", type=int, default=None, help="only the first N documents")
    matching = commands.add_parser("match", help="the segmenter's sentences and tokens against the gold")
    matching.add_argument("folder", type=Path)
    matching.add_argument("--line-breaks", choices=LINE_BREAKS, default=None, help="default: all three")
    annotating = commands.add_parser("annotate", help="submit the gold entities of unannotated tasks")
    annotating.add_argument("--project", required=True, help="the Label Studio project's title")
    annotating.add_argument("--gold", type=Path, required=True, help="DIR.gold.jsonl from `documents`")
    annotating.add_argument("--url", default=os.environ.get("LABEL_STUDIO_URL"))
    annotating.add_argument("--api-key", default=os.environ.get("LABEL_STUDIO_API_KEY"))
    annotating.add_argument("--tokens-per-hour", type=float, default=2000.0, help="assumed annotator speed")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Run one subcommand and print what it measured."""
    args = _parser().parse_args(argv)
    if args.command == "documents":
        counts = write_documents(args.split, args.out, args.documents)
        print(f"{args.split}: written to {args.out}/, gold in {gold_path(args.out)}")
        _print_counts(counts)
    elif args.command == "match":
        modes = [args.line_breaks] if args.line_breaks else list(LINE_BREAKS)
        print(f"segmenter vs CoNLL gold, {args.folder}:")
        print(match_table(match(args.folder, mode) for mode in modes))
    else:
        try:
            client = LabelStudioClient(args.url, args.api_key)
            counts = annotate(client, args.project, args.gold, args.tokens_per_hour)
        except LabelStudioError as error:
            raise SystemExit(str(error)) from None
        print(f"Label Studio {client.url}, project {args.project!r}:")
        _print_counts(counts)
        print(f"  lead time is assumed, not measured: {args.tokens_per_hour:,.0f} tokens per hour per annotator")
        print(f"  total lead time {counts['lead time s'] / 3600:.2f} h")


if __name__ == "__main__":
    main()
