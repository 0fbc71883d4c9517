"""How fast a batch job's files are prepared and ingested on this CPU: it must never be what a
large labelling run waits for (target: >= 2,000 requests per second each way).

The real path of ``llm_annotation.mode: batch`` with the ``files`` provider (the one vLLM's
run_batch uses; the OpenAI provider writes and reads the same files): ``--requests`` few_shot
prompts of real CoNLL train sentences (cycled, each made unique by a sentence number, so every
request has its own cache key), then

1. prepare -- cache keys computed, request files written (split at the Batch API's limits) and
   the job state saved;
2. ingest -- an output file in run_batch's shape read back, every line parsed and its reply put
   into the SQLite response cache.

Writing the fake output file (the part a GPU does) is not timed.

    .venv/bin/python benchmarks/batch_files.py --requests 50000
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from llm_ner.corpus import load_split
from llm_ner.llm.backends import OpenAIBackend
from llm_ner.llm.batch import Batcher, BatchPending, BatchRequest
from llm_ner.llm.cache import ResponseCache, request_key
from llm_ner.llm.settings import BatchSettings, ModelSettings, parse_llm_settings
from llm_ner.settings import project_parameters
from llm_ner.tags import LabelSchema


def few_shot_messages(n: int) -> tuple[list, dict]:
    config = project_parameters("base")
    settings = parse_llm_settings(
        dict(config["llm_annotation"], cache_path="/dev/null"),
        config["llm_models"],
        config["llm_prompts"],
        None,
        LabelSchema.from_config(config["entity_types"]),
    )
    strategy = settings.strategies["few_shot"]
    sentences = list(load_split("train")["tokens"])
    messages = [strategy.messages([*sentences[i % len(sentences)], f"#{i}"], list(strategy.examples)) for i in range(n)]
    return messages, settings.annotation.generation.request()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=50_000)
    args = parser.parse_args()

    messages, generation = few_shot_messages(args.requests)
    backend = OpenAIBackend(
        ModelSettings(name="gpt-4o-mini", backend="openai", model="gpt-4o-mini", base_url="http://127.0.0.1:9/v1"),
        api_key="not-used",
    )
    with tempfile.TemporaryDirectory() as folder:
        cache = ResponseCache(Path(folder) / "cache.sqlite")
        settings = BatchSettings(provider="files", directory=str(Path(folder) / "batches"))

        started = time.perf_counter()
        requests = [BatchRequest(request_key(backend.identity, m, generation), m, generation) for m in messages]
        try:
            Batcher(backend, cache, settings).fetch(requests)
        except BatchPending:
            pass
        prepare_s = time.perf_counter() - started
        files = sorted(Path(folder).glob("batches/*/job-*.requests.jsonl"))

        for path in files:  # the GPU's part: a reply per request, in run_batch's output shape (not timed)
            with open(path) as lines, open(path.with_name(path.name.replace(".requests.", ".output.")), "w") as out:
                for number, line in enumerate(lines):
                    request = json.loads(line)
                    body = {
                        "id": f"cmpl-{number}",
                        "object": "chat.completion",
                        "model": "gpt-4o-mini",
                        "choices": [
                            {
                                "index": 0,
                                "finish_reason": "stop",
                                "message": {
                                    "role": "assistant",
                                    "content": '{"PER": [], "ORG": [], "LOC": ["Berlin"], "MISC": []}',
                                },
                            }
                        ],
                        "usage": {"prompt_tokens": 600, "completion_tokens": 20, "total_tokens": 620},
                    }
                    out.write(
                        json.dumps(
                            {
                                "id": f"vllm-{number}",
                                "custom_id": request["custom_id"],
                                "error": None,
                                "response": {"status_code": 200, "request_id": str(number), "body": body},
                            }
                        )
                        + "\n"
                    )

        started = time.perf_counter()
        batcher = Batcher(backend, cache, settings)
        batcher.fetch(requests)
        ingest_s = time.perf_counter() - started
        cached = len(cache)
        megabytes = sum(path.stat().st_size for path in files) / 1e6

    print(
        f"{args.requests} requests (few_shot prompts, {megabytes / args.requests * 1e3:.1f} kB each), "
        f"{len(files)} request file(s), {megabytes:.0f} MB"
    )
    print(f"prepare (keys, files, job state): {prepare_s:.2f} s = {args.requests / prepare_s:,.0f} requests/s")
    print(
        f"ingest (parse, cache):            {ingest_s:.2f} s = {args.requests / ingest_s:,.0f} requests/s; "
        f"{len(batcher.received)} replies received, {cached} in the cache"
    )


if __name__ == "__main__":
    main()
