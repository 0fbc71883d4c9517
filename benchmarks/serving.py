"""How much of the tagger's own speed the inference pipeline and the served model keep.

Workload: the first ``--sentences`` CoNLL-2003 test sentences, re-joined into running text (no
space before punctuation), one document each. Every figure is the median of ``--repeats`` runs in
this one process (the served model: a real ``mlflow models serve`` subprocess on loopback).

- baseline: ``tag_text(tagger, texts)`` on the whole list -- the tagger's own batched prediction
  (regex tokens, no sentence splitting), and one text per call;
- pipeline: the ``inference`` pipeline's work end to end in-process -- read the documents folder
  (``DocumentsDataset``), segment with spaCy, tag (``tag_documents``), write JSON Lines;
- served: the model logged by :func:`llm_ner.serving.log_tagger_model` in a scratch MLflow store,
  ``--clients`` concurrent clients each POSTing ``--per-request`` documents per request (the
  workload split among them), for each ``--workers`` count of ``mlflow models serve``; throughput,
  p50 and p95 latency (p95 also for the requests holding a sentence of >= 25 words), errors.

    .venv/bin/python benchmarks/serving.py                            # data/06_models/model_gold's newest version
    .venv/bin/python benchmarks/serving.py --model path/to/tagger --workers 2 --clients 16 --per-request 1 8
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

BIN = Path(sys.executable).parent


def detokenise(tokens: list[str]) -> str:
    text = " ".join(tokens)
    text = re.sub(r" ([.,;:!?%)\]}]|'s\b|n't\b)", r"\1", text)
    return re.sub(r"([(\[{$]) ", r"\1", text)


def load_tagger(reference: str | None):
    """The tagger ``reference`` names, resolved as the inference pipeline resolves ``inference.model``
    (default: conf/base's, the newest model_gold), with the run's entity types checked."""
    from llm_ner.parameters import check_parameters
    from llm_ner.pipelines.inference.nodes import load_tagger as load_inference_tagger
    from llm_ner.settings import project_parameters

    overrides = {"inference": {"model": reference}} if reference else None
    typed = check_parameters(project_parameters(runtime_params=overrides))
    return load_inference_tagger(typed["inference"], typed["entity_types"]), typed["inference"].model


def timed(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(uri: str, store: str, workers: int, threads: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": store,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "OMP_NUM_THREADS": str(threads),
    }
    process = subprocess.Popen(
        [
            str(BIN / "mlflow"),
            "models",
            "serve",
            "-m",
            uri,
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "--workers",
            str(workers),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if requests.get(f"{url}/ping", timeout=1).ok:
                return process, url
        except requests.ConnectionError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("mlflow models serve did not start")


def load_clients(url: str, texts: list[str], clients: int, per_request: int = 1) -> dict:
    """``clients`` threads, each POSTing its share of ``texts``, ``per_request`` texts a request."""
    session_per_client = [requests.Session() for _ in range(clients)]

    def client(k: int) -> list[tuple[float, bool, int]]:
        results, own = [], texts[k::clients]
        for i in range(0, len(own), per_request):
            batch = own[i : i + per_request]
            start = time.perf_counter()
            response = session_per_client[k].post(
                f"{url}/invocations", json={"dataframe_records": [{"text": t} for t in batch]}, timeout=60
            )
            ok = (
                response.status_code == 200
                and all(p["status"] in ("ok", "split") for p in response.json()["predictions"])
                and len(response.json()["predictions"]) == len(batch)
            )
            results.append((time.perf_counter() - start, ok, max(len(t.split()) for t in batch)))
        return results

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = [r for part in pool.map(client, range(clients)) for r in part]
    wall = time.perf_counter() - start
    latencies = sorted(r[0] for r in results)
    long = sorted(r[0] for r in results if r[2] >= 25)
    return {
        "rate": len(texts) / wall,
        "p50": statistics.median(latencies),
        "p95": latencies[int(0.95 * (len(latencies) - 1))],
        "p95_long": long[int(0.95 * (len(long) - 1))] if long else float("nan"),
        "errors": sum(not r[1] for r in results),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--model",
        help="what inference.model takes: a tagger's folder, a versioned model folder or an "
        "MLflow model URI (default: conf/base's, the newest model_gold)",
    )
    parser.add_argument("--sentences", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--per-request",
        type=int,
        nargs="+",
        default=[1],
        help="documents per request (1: a client per sentence; more: the client batches)",
    )
    args = parser.parse_args()

    import mlflow
    import torch

    from llm_ner.corpus import load_split
    from llm_ner.datasets import DocumentsDataset
    from llm_ner.datasets.json_lines import JSONLinesDataset
    from llm_ner.inference import TaggingSettings, tag_documents
    from llm_ner.model import tag_text
    from llm_ner.serving import log_tagger_model

    tagger, described = load_tagger(args.model)
    texts = [detokenise(list(t)) for t in load_split("test")["tokens"].head(args.sentences)]
    words = sum(len(t.split()) for t in texts)
    print(
        f"model: {described}; {len(texts)} CoNLL test sentences ({words} words, "
        f"{sum(len(t.split()) >= 25 for t in texts)} of >= 25 words); torch threads {torch.get_num_threads()}; "
        f"median of {args.repeats}"
    )

    batched = len(texts) / timed(lambda: tag_text(tagger, texts), args.repeats)
    single = len(texts) / timed(lambda: [tag_text(tagger, t) for t in texts], args.repeats)
    print(f"baseline tag_text, one list:     {batched:7.1f} sentences/s")
    print(f"baseline tag_text, one at a time: {single:7.1f} sentences/s ({single / batched:.2f}x)")

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        folder = scratch / "documents"
        folder.mkdir()
        with (folder / "test.jsonl").open("w") as out:
            for i, text in enumerate(texts):
                out.write(json.dumps({"id": f"s{i}", "text": text}) + "\n")
        output = JSONLinesDataset(str(scratch / "tagged.jsonl"))

        def pipeline():
            documents = DocumentsDataset(str(folder), unit="documents").load()
            output.save(tag_documents(tagger, documents, TaggingSettings()))

        piped = len(texts) / timed(pipeline, args.repeats)
        print(
            f"inference pipeline end to end:   {piped:7.1f} sentences/s ({piped / batched:.2f}x batched; aim >= 0.8x)"
        )

        store = f"sqlite:///{scratch / 'mlflow.db'}"
        mlflow.set_tracking_uri(store)
        mlflow.set_experiment(experiment_id=mlflow.create_experiment("bench", artifact_location=str(scratch / "art")))
        log_tagger_model(tagger, TaggingSettings(), "bench-tagger")
        for workers in args.workers:
            threads = max(1, torch.get_num_threads() // workers)
            process, url = serve("models:/bench-tagger/1", store, workers, threads)
            try:
                load_clients(url, texts[:20], 2)  # warm every worker
                for clients, per_request in ((c, n) for n in args.per_request for c in args.clients):
                    runs = [load_clients(url, texts, clients, per_request) for _ in range(args.repeats)]
                    median = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
                    print(
                        f"served, {workers} worker(s) x {threads} thread(s), {clients:2d} clients x "
                        f"{per_request} a request: "
                        f"{median['rate']:6.1f} sentences/s ({median['rate'] / batched:.2f}x batched), "
                        f"p50 {1000 * median['p50']:6.1f} ms, p95 {1000 * median['p95']:6.1f} ms "
                        f"(>= 25 words: {1000 * median['p95_long']:6.1f} ms), errors {sum(r['errors'] for r in runs)}"
                    )
            finally:
                process.terminate()
                process.wait(timeout=30)


if __name__ == "__main__":
    main()
