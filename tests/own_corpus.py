"""A small corpus of our own for the tests: medication instructions with three non-CoNLL types
(DRUG, DOSE, FREQUENCY; multi-word mentions), an environment that runs the study on it, and a
stand-in LLM that answers in those types -- imperfectly, and sometimes in a type outside them."""

from __future__ import annotations

import json
import random
import re
import shutil
from pathlib import Path

import yaml

ENTITY_TYPES = {
    "DRUG": {
        "description": "A medicine, by brand or generic name.",
        "title": "Drug",
        "aliases": ["MEDICATION", "MEDICINE"],
    },
    "DOSE": {"description": "An amount of a medicine with its unit, such as 500 mg.", "title": "Dose"},
    "FREQUENCY": {"description": "How often a dose is taken, such as twice a day.", "title": "Frequency"},
}
DRUGS = [
    "amoxicillin",
    "ibuprofen",
    "folic acid",
    "vitamin D",
    "metformin",
    "insulin glargine",
    "paracetamol",
    "salbutamol",
    "omeprazole",
    "acetylsalicylic acid",
]
DOSES = ["500 mg", "20 mg", "2 puffs", "10 units", "1 g", "5 ml", "one tablet", "400 mg"]
FREQUENCIES = ["twice a day", "once daily", "every 8 hours", "at night", "three times a day", "every morning"]
ROUTES = ["by mouth", "with water", "after meals"]
PATIENTS = ["Mrs Patel", "the patient", "Tom", "she", "he"]
TEMPLATES = [
    "{patient} takes {dose} of {drug} {frequency} .",
    "Give {dose} {drug} {frequency} {route} .",
    "{drug} {dose} {frequency} was started on Monday .",
    "Stop {drug} and review in two weeks .",
    "{patient} was advised to take {drug} {route} {frequency} .",
    "No change to the current medication today .",
    "Increase {drug} to {dose} {frequency} .",
]
SPLITS = {"train": 150, "valid": 80, "test": 40}


def _sentence(rng: random.Random) -> list[tuple[str, str]]:
    """(token, IOB2 tag) pairs of one generated sentence."""
    template = rng.choice(TEMPLATES)
    values = {
        "patient": (rng.choice(PATIENTS), None),
        "drug": (rng.choice(DRUGS), "DRUG"),
        "dose": (rng.choice(DOSES), "DOSE"),
        "frequency": (rng.choice(FREQUENCIES), "FREQUENCY"),
        "route": (rng.choice(ROUTES), None),
    }
    pairs = []
    for word in template.split():
        slot = re.fullmatch(r"\{(\w+)\}", word)
        if slot is None:
            pairs.append((word, "O"))
            continue
        text, etype = values[slot.group(1)]
        for i, token in enumerate(text.split()):
            pairs.append((token, "O" if etype is None else f"{'B' if i == 0 else 'I'}-{etype}"))
    return pairs


def write_corpus(folder: Path, seed: int = 7, sizes: dict[str, int] = SPLITS) -> None:
    """``train.txt``, ``valid.txt`` and ``test.txt`` in 2-column CoNLL (token, tag)."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for split, size in sizes.items():
        lines = []
        for _ in range(size):
            lines += [f"{token} {tag}" for token, tag in _sentence(rng)] + [""]
        (folder / f"{split}.txt").write_text("\n".join(lines))


def write_environment(project: Path, name: str = "meds") -> Path:
    """``conf/<name>``: conf/test's sizes, the corpus as the `folder` source, our entity types, and
    the strategies that need no CoNLL examples (zero-shot and kNN demonstrations from our train)."""
    env = project / "conf" / name
    shutil.copytree(project / "conf" / "test", env)
    (env / "catalog_corpus.yml").write_text(
        '"{split}_raw":\n  type: llm_ner.datasets.conll_corpus.ConllCorpusDataset\n  source: folder\n'
        '  path: data/01_raw/meds\n  split: "{split}"\n'
    )
    (env / "parameters_corpus.yml").write_text(yaml.safe_dump({"entity_types": ENTITY_TYPES}, sort_keys=False))
    annotation_file = env / "parameters_llm_annotation.yml"
    annotation = yaml.safe_load(annotation_file.read_text())
    annotation["llm_annotation"]["evaluate"]["strategies"] = ["span_json", "knn_few_shot"]
    annotation_file.write_text(yaml.safe_dump(annotation, sort_keys=False))
    write_corpus(project / "data" / "01_raw" / "meds")
    return env


_SENTENCE = re.compile(r"Sentence: '?(.*?)'?\s*$", re.MULTILINE)
_DOSE = re.compile(r"\b(\d+ (?:mg|g|ml|units|puffs)|one tablet)\b")


def medication_responder(user: str, attempt: int) -> tuple:
    """A stand-in LLM for the medication types: it knows most drugs (it calls them MEDICATION, an
    alias), finds doses by pattern, misses "at night", and labels routes as ROUTE, a type the
    schema does not have -- so its labels are imperfect and some sentences are ``repaired``."""
    match = _SENTENCE.findall(user)
    sentence = match[-1] if match else ""
    reply = {
        "MEDICATION": [d for d in DRUGS if d in sentence and d != "omeprazole"],
        "DOSE": _DOSE.findall(sentence),
        "FREQUENCY": [f for f in FREQUENCIES if f in sentence and f != "at night"],
        "ROUTE": [r for r in ROUTES if r in sentence],
    }
    return ("reply", json.dumps(reply))
