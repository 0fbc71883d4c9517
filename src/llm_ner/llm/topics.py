"""Sentence topics by LLM (seed S2): a prompt asking for one integer class, a forgiving reader of
the reply, and the labelling run -- the same backends, cache, money and fault rules as NER labels.

CoNLL-2003 has no gold topics, so the only check of these labels is another LLM reading:
:func:`agreement` between two labellings (two models, or two samples of one).
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from string import Template
from typing import Any

import pandas as pd
from sklearn.metrics import cohen_kappa_score

from .annotate import CALL_COLUMNS, CachedCaller, CallStats
from .backends import ChatBackend
from .cache import ResponseCache
from .costs import Price
from .prompts import Messages
from .runner import GuardedCall, SentenceCallFailed, run_each

logger = logging.getLogger(__name__)

TOPICS = ("World", "Sport", "Business", "Technology", "Other")  # S2's classes, ids 0..4
NO_TOPIC = -1
TOPIC_COLUMNS = ("sentence_id", "topic", "topic_name", "status", "failure_reason", "model", *CALL_COLUMNS, "reply")
_JSON_KEYS = ("topic", "label", "category", "class", "id")
ANSWERS = ("integer", "name")


@dataclass(frozen=True)
class TopicPrompt:
    """``user`` (and ``system``) are string.Template texts with ``$sentence``; ``classes`` in id
    order; ``answer``: what the prompt asks for, ``integer`` (S2) or ``name``."""

    user: str
    system: str | None = None
    classes: tuple[str, ...] = TOPICS
    answer: str = "integer"

    def messages(self, tokens: Sequence[str]) -> Messages:
        values = {"sentence": " ".join(tokens)}
        messages = [{"role": "system", "content": Template(self.system).safe_substitute(values)}] if self.system else []
        return messages + [{"role": "user", "content": Template(self.user).safe_substitute(values)}]


def selected_prompt(topics: Mapping[str, Any]) -> TopicPrompt:
    """The prompt ``llm_topics.prompt`` names among ``llm_topics.prompts``."""
    prompts, name = topics.get("prompts") or {}, topics.get("prompt")
    if name not in prompts:
        raise ValueError(f"llm_topics.prompt must name one of llm_topics.prompts {sorted(prompts)}, got {name!r}")
    return topic_prompt(prompts[name], f"llm_topics.prompts.{name}")


def topic_prompt(config: Mapping[str, Any], where: str = "llm_topics.prompt") -> TopicPrompt:
    unknown = sorted(set(config) - {"user", "system", "classes", "answer"})
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {unknown}; allowed: ['answer', 'classes', 'system', 'user']")
    if config.get("answer", "integer") not in ANSWERS:
        raise ValueError(f"{where}.answer must be one of {ANSWERS}, got {config.get('answer')!r}")
    if "$sentence" not in config.get("user", ""):
        raise ValueError(f"{where}.user must contain $sentence, the sentence to classify")
    classes = tuple(config.get("classes") or TOPICS)
    if len(set(classes)) != len(classes) or len(classes) < 2:
        raise ValueError(f"{where}.classes must name at least 2 distinct classes, got {list(classes)}")
    return TopicPrompt(config["user"], config.get("system"), classes, config.get("answer", "integer"))


@dataclass(frozen=True)
class TopicReading:
    topic: int  # NO_TOPIC when unreadable
    status: str  # ok | repaired | failed
    reason: str = ""


def read_topic(reply: str, classes: Sequence[str] = TOPICS, asked_for_names: bool = False) -> TopicReading:
    """The class in a reply. ``ok``: what was asked for -- an integer alone or leading (``2``,
    ``"2"``, ``2: Business``), a JSON integer / ``{"topic": 2}``, or with ``asked_for_names`` the
    class name alone; ``repaired``: a name where a number was asked for, a plural (``Sports``), or
    one unambiguous class (number or name) inside more text; ``failed``: none, an out-of-range
    number, or readings that disagree."""
    text = reply.strip().strip("`").strip()
    names = {name.casefold(): i for i, name in enumerate(classes)}

    def by_number(value: Any) -> int | None:
        number = int(value) if isinstance(value, (int, str)) and str(value).strip().isdigit() else None
        return number if number is not None and 0 <= number < len(classes) else None

    leading = re.match(r"""^["']?(\d+)["']?(?:\s*$|\s*[:.)\-–]|\s+\(?[A-Za-z])""", text)
    if leading:
        topic = by_number(leading.group(1))
        return TopicReading(topic, "ok") if topic is not None else TopicReading(NO_TOPIC, "failed", "out_of_range")
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        value = next((parsed[k] for k in parsed if str(k).casefold() in _JSON_KEYS), None)
        if by_number(value) is not None:
            return TopicReading(by_number(value), "ok")
        if isinstance(value, str) and value.strip().casefold() in names:
            return TopicReading(names[value.strip().casefold()], "repaired")
    word = text.rstrip(".").casefold()
    for candidate in (word, word[:-1] if word.endswith("s") else None):  # "Sports" for "Sport"
        if candidate in names:
            return TopicReading(names[candidate], "ok" if candidate == word and asked_for_names else "repaired")
    # standalone integers: not part of a longer number or a decimal ("1996", "3.5")
    found = {by_number(n) for n in re.findall(r"(?<!\d)(?<!\d\.)\d+(?!\d)(?!\.\d)", text)} - {None}
    found |= {i for name, i in names.items() if re.search(rf"\b{re.escape(name)}s?\b", text, re.IGNORECASE)}
    if len(found) == 1:
        return TopicReading(found.pop(), "repaired")
    return TopicReading(NO_TOPIC, "failed", "ambiguous" if found else "no_topic")


@dataclass
class TopicRun:
    labels: pd.DataFrame  # TOPIC_COLUMNS, one row per sentence
    totals: CallStats = field(default_factory=CallStats)
    retries: int = 0


def label_topics(
    sentences: pd.DataFrame,
    prompt: TopicPrompt,
    backend: ChatBackend,
    cache: ResponseCache,
    generation: dict[str, Any],
    price: Price = Price(),
    show_progress: bool = True,
    namespace: str = "",
) -> TopicRun:
    """One topic per sentence of a sentence table; a sentence whose call or reply fails gets
    topic -1 and status ``failed`` (with the reason), and the run goes on."""
    caller = CachedCaller(backend, cache, generation, namespace, price)
    rows = sentences.reset_index(drop=True)
    retries_before = getattr(getattr(backend, "counters", None), "retries", 0)

    def label_one(i: int, call: GuardedCall) -> dict[str, Any]:
        stats, reply = CallStats(), ""
        try:
            reply = call(caller, prompt.messages(list(rows.at[i, "tokens"])), stats).text
            reading = read_topic(reply, prompt.classes, asked_for_names=prompt.answer == "name")
        except SentenceCallFailed as failure:
            reading = TopicReading(NO_TOPIC, "failed", failure.reason)
        return {
            "sentence_id": int(rows.at[i, "sentence_id"]),
            "topic": reading.topic,
            "topic_name": prompt.classes[reading.topic] if reading.topic >= 0 else None,
            "status": reading.status,
            "failure_reason": reading.reason,
            "model": backend.name,
            **stats.columns(),
            "reply": reply,
        }

    results = run_each(list(rows["sentence_id"]), label_one, backend, f"topics x {backend.name}", show_progress)
    table = pd.DataFrame(results, columns=list(TOPIC_COLUMNS))
    retries = getattr(getattr(backend, "counters", None), "retries", 0) - retries_before
    logger.info(
        "topics x %s: %d sentences, %d API calls, %d from cache, statuses %s",
        backend.name,
        len(table),
        caller.totals.api_calls,
        caller.totals.cache_hits,
        dict(Counter(table["status"])),
    )
    return TopicRun(table, caller.totals, retries)


def agreement(first: pd.DataFrame, second: pd.DataFrame, on: Sequence[str] = ("sentence_id",)) -> dict[str, float]:
    """Two topic labellings of the same sentences (matched ``on`` these columns): the share of
    sentences (readable in both) given the same class, and Cohen's kappa (agreement beyond chance)."""
    keys = list(on)
    both = first[[*keys, "topic"]].merge(second[[*keys, "topic"]], on=keys, suffixes=("_a", "_b"))
    both = both[(both["topic_a"] >= 0) & (both["topic_b"] >= 0)]
    if both.empty:
        return {"sentences": 0, "agreement": float("nan"), "cohen_kappa": float("nan")}
    same = float((both["topic_a"] == both["topic_b"]).mean())
    kappa = (
        float(cohen_kappa_score(both["topic_a"], both["topic_b"]))
        if both[["topic_a", "topic_b"]].nunique().max() > 1
        else float("nan")
    )
    return {"sentences": len(both), "agreement": same, "cohen_kappa": kappa}


def distribution(labels: pd.DataFrame, classes: Sequence[str] = TOPICS) -> pd.DataFrame:
    """Sentences per class (and unreadable ones) with their share, per ``set`` when the table has one."""
    table = labels.assign(topic_name=labels["topic_name"].fillna("(failed)"))
    keys = ["set", "topic_name"] if "set" in table else ["topic_name"]
    counts = table.groupby(keys, sort=False).size().rename("sentences").reset_index()
    totals = counts.groupby(keys[:-1])["sentences"].transform("sum") if len(keys) > 1 else counts["sentences"].sum()
    counts["share"] = counts["sentences"] / totals
    order = {name: i for i, name in enumerate([*classes, "(failed)"])}
    return counts.sort_values(
        [*keys[:-1], "topic_name"], key=lambda c: c.map(order) if c.name == "topic_name" else c, kind="stable"
    ).reset_index(drop=True)
