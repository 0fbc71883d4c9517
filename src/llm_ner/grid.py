"""The experiment grid: every repeated training of the study (budget x strategy x fold, regimen x
LR schedule x seed, active-learning strategy x seed, ...) as a list of cells run by one engine.

* A :class:`Cell` is a plain, picklable description of one unit of work: its id columns (e.g.
  ``{"strategy": "label_issues", "budget": 0.1, "fold": 2}``) and a *job* -- a frozen dataclass
  whose ``run()`` returns a :class:`CellOutput` (result rows, and optionally a model or
  predictions). The study's jobs live beside their domain: :class:`llm_ner.students.Student`
  (build or continue a tagger, fit its phases, score it), the multitask and active-learning runs.
* :func:`run_cell` runs one; a :class:`Grid` runs many with an executor chosen by name
  (:data:`EXECUTORS`: ``sequential`` in this process, ``processes`` in spawned worker processes,
  ``ray`` as Ray tasks on this machine or a cluster) and hands the outputs back in cell order.
  The executor never changes a result: a cell carries its own seed and data.
* Resumable: each finished cell is written to a :class:`ResultStore` as it completes, keyed by
  :func:`fingerprint` -- a hash of everything that determines it (its job's data, settings, seed,
  starting weights) and of the versions that change the numbers (torch, transformers,
  :data:`CELL_FORMAT`). A rerun after a kill trains only the missing cells; a changed parameter
  changes the key, so a stale result is never read; a corrupt entry is detected and recomputed.
* :func:`summarise` is the one mean +- std over a grid's repeat column.

Workers never talk to MLflow: outputs come back to the driver (the NestedRuns hook logs each cell
from the runs table). Nothing here imports Kedro.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import logging
import multiprocessing
import os
import pickle
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd
from pydantic import NonNegativeFloat, PositiveFloat, PositiveInt
from tqdm.auto import tqdm

from .typed import Settings, parse, settings

logger = logging.getLogger(__name__)

# Bump when a change to the training or scoring code changes what a cell returns: every stored
# result then misses and is recomputed.
CELL_FORMAT = 1


class Job(Protocol):
    def run(self) -> CellOutput: ...


@dataclass
class CellOutput:
    rows: pd.DataFrame  # the cell's result rows, without its id columns
    artifacts: dict[str, Any] = field(default_factory=dict)  # e.g. {"model": Tagger}, {"probabilities": [...]}


@dataclass(frozen=True)
class Cell:
    ids: Mapping[str, Any]  # the id columns its rows carry, in this order
    job: Job

    def describe(self) -> str:
        return " ".join(f"{name}={value}" for name, value in self.ids.items())


def run_cell(cell: Cell) -> CellOutput:
    """Run one cell's job (what a worker does); the grid adds the id columns."""
    return cell.job.run()


def with_ids(output: CellOutput, ids: Mapping[str, Any]) -> CellOutput:
    """The output with the cell's id columns first (replacing any column of the same name)."""
    rows = output.rows.drop(columns=[name for name in ids if name in output.rows])
    for position, (name, value) in enumerate(ids.items()):
        rows.insert(position, name, value)
    return CellOutput(rows, output.artifacts)


# --- fingerprints -----------------------------------------------------------------------------


def code_versions() -> dict[str, str]:
    """The library versions a stored result depends on (a new torch may round differently)."""
    import torch
    import transformers

    return {"torch": torch.__version__, "transformers": transformers.__version__, "cell_format": str(CELL_FORMAT)}


def fingerprint(job: Any) -> str:
    """sha256 of a canonical walk over ``job`` (dataclasses, named tuples, mappings, sequences,
    numbers, strings, numpy arrays, tables, tensors and torch modules by their weights) and
    :func:`code_versions`. Equal content gives an equal key in any process."""
    digest = hashlib.sha256()
    _feed(digest, code_versions())
    _feed(digest, job)
    return digest.hexdigest()


def _feed(digest, value: Any) -> None:
    import torch

    put = digest.update
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        put(f"{type(value).__name__}:{value!r};".encode())
    elif isinstance(value, np.generic):
        _feed(digest, value.item())
    elif isinstance(value, np.ndarray):
        if value.dtype == object:
            _feed(digest, value.tolist())
        else:
            put(f"ndarray:{value.dtype.str}:{value.shape};".encode())
            put(np.ascontiguousarray(value).tobytes())
    elif isinstance(value, torch.Tensor):
        tensor = value.detach().cpu().contiguous()
        put(f"tensor:{tensor.dtype}:{tuple(tensor.shape)};".encode())
        put(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(value, torch.nn.Module):
        # a trained model by its configuration, labels and weights
        put(f"module:{type(value).__qualname__};".encode())
        _feed(digest, getattr(value, "config", None))
        _feed(digest, getattr(value, "labels", None))
        for name, tensor in value.state_dict().items():
            put(name.encode())
            _feed(digest, tensor)
    elif isinstance(value, pd.DataFrame):
        put(b"frame;")
        for column in value.columns:
            _feed(digest, str(column))
            _feed(digest, value[column].tolist())
    elif isinstance(value, pd.Series):
        _feed(digest, ("series", value.index.tolist(), value.tolist()))
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        put(f"dataclass:{type(value).__module__}.{type(value).__qualname__};".encode())
        for item in dataclasses.fields(value):
            put(item.name.encode())
            _feed(digest, getattr(value, item.name))
    elif isinstance(value, tuple) and hasattr(value, "_fields"):  # a NamedTuple (LabelledSentence)
        put(f"namedtuple:{type(value).__qualname__};".encode())
        _feed(digest, tuple(value))
    elif isinstance(value, (list, tuple)):
        put(f"{type(value).__name__}[{len(value)}];".encode())
        for item in value:
            _feed(digest, item)
    elif isinstance(value, Mapping):
        put(f"mapping[{len(value)}];".encode())
        for key in sorted(value, key=repr):
            _feed(digest, key)
            _feed(digest, value[key])
    else:
        raise TypeError(
            f"a grid cell cannot hold a {type(value).__qualname__}: nothing to fingerprint it by "
            f"(use dataclasses, named tuples, lists, mappings, numbers, strings, arrays or tables)"
        )


# --- the store of finished cells --------------------------------------------------------------


class ResultStore:
    """Finished cells on disk, one file per fingerprint: ``<root>/<grid>/<fingerprint>.pkl``.

    A file is a header line, the sha256 of the payload, then the payload (a pickled
    :class:`CellOutput`); it is written to a temporary name and renamed, so a kill mid-write
    leaves no entry. An entry whose checksum or payload does not read back is logged, deleted and
    recomputed -- never used.
    """

    MAGIC = b"llm-ner grid cell\n"

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def path(self, grid: str, key: str) -> Path:
        return self.root / grid / f"{key}.pkl"

    def load(self, grid: str, key: str) -> CellOutput | None:
        path = self.path(grid, key)
        if not path.is_file():
            return None
        try:
            header, checksum, payload = path.read_bytes().split(b"\n", 2)
            if header + b"\n" != self.MAGIC or hashlib.sha256(payload).hexdigest().encode() != checksum:
                raise ValueError("checksum mismatch")
            output = pickle.loads(payload)
            if not isinstance(output, CellOutput):
                raise ValueError(f"holds a {type(output).__name__}, not a cell output")
            return output
        except Exception as error:
            logger.warning("grid %s: stored result %s is unreadable (%s): recomputing it", grid, path, error)
            path.unlink(missing_ok=True)
            return None

    def save(self, grid: str, key: str, output: CellOutput) -> None:
        path = self.path(grid, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = pickle.dumps(output, protocol=pickle.HIGHEST_PROTOCOL)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_bytes(self.MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload)
        os.replace(temporary, path)


# --- executors ----------------------------------------------------------------------------------

Finished = tuple[int, "CellOutput | None", "BaseException | None"]  # (cell index, output, error)


def _set_threads(threads: int | None) -> None:
    if threads:
        import torch

        torch.set_num_threads(threads)


def _run_in_worker(cell: Cell, threads: int | None) -> CellOutput:
    """What a worker process or Ray task runs: its torch thread count, then the cell."""
    _set_threads(threads)
    return run_cell(cell)


@settings
class Sequential:
    """In this process, one cell after another (the default; no extra service)."""

    threads_per_cell: PositiveInt | None = None  # torch threads; None = leave torch's setting alone

    def run(self, cells: Sequence[Cell]) -> Iterator[Finished]:
        _set_threads(self.threads_per_cell)
        for index, cell in enumerate(cells):
            try:
                yield index, run_cell(cell), None
            except Exception as error:
                yield index, None, error
                return


@settings
class Processes:
    """``workers`` spawned processes (``concurrent.futures``), each with ``threads_per_cell`` torch threads."""

    workers: PositiveInt = 2
    threads_per_cell: PositiveInt | None = 1

    def run(self, cells: Sequence[Cell]) -> Iterator[Finished]:
        # spawn, not fork: a forked child inherits torch's thread pools and any CUDA context
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(self.workers, mp_context=context) as pool:
            futures = {pool.submit(_run_in_worker, cell, self.threads_per_cell): i for i, cell in enumerate(cells)}
            failed = False
            for future in concurrent.futures.as_completed(futures):
                if future.cancelled():
                    continue
                error = future.exception()
                if error is not None and not failed:
                    failed = True
                    for other in futures:  # the queued ones; running ones finish and are kept
                        other.cancel()
                yield futures[future], (None if error else future.result()), error


def start_ray(address: str | None, num_cpus: int | None) -> None:
    """Ray on this machine (at most ``num_cpus`` CPUs; None: all) or a running cluster's
    ``address``, unless this process has joined one already."""
    import ray

    if not ray.is_initialized():
        ray.init(
            address=address,
            num_cpus=num_cpus if address is None else None,
            include_dashboard=False,
            log_to_driver=False,
        )


@settings
class Ray:
    """Ray tasks: ``ray.init()`` on this machine (or ``address`` of a running cluster), each cell
    asking for ``cpus_per_cell`` CPUs and ``gpus_per_cell`` GPUs -- fractional, e.g. 0.125 = 8
    students share a GPU (Ray sets ``CUDA_VISIBLE_DEVICES`` per task; resources are logical, so
    the students must fit in the GPU's memory together)."""

    address: str | None = None
    cpus_per_cell: PositiveFloat = 1
    gpus_per_cell: NonNegativeFloat = 0
    num_cpus: PositiveInt | None = None  # for a local ray.init: CPUs Ray may use (None = all)

    @staticmethod
    def check_installed() -> None:
        try:
            import ray  # noqa: F401
        except ImportError:
            raise ImportError("grid.executor 'ray' needs Ray, an optional extra: pip install -e '.[ray]'") from None

    def run(self, cells: Sequence[Cell]) -> Iterator[Finished]:
        import ray

        start_ray(self.address, self.num_cpus)
        gpus = self.gpus_per_cell
        if gpus > 0 and not ray.cluster_resources().get("GPU"):
            logger.warning("grid.ray.gpus_per_cell is %s but Ray sees no GPU: the cells run on CPUs only", gpus)
            gpus = 0
        # max_calls=0: keep each worker for many cells. Ray's default for a GPU task is a fresh process
        # per task (importing torch and starting CUDA each time), which made 8 students per GPU slower
        # than sequential on an H200 (benchmarks/grid_executors.py)
        task = ray.remote(num_cpus=self.cpus_per_cell, num_gpus=gpus, max_retries=0, max_calls=0)(_run_in_worker)
        threads = max(1, int(self.cpus_per_cell))
        pending = {task.remote(cell, threads): i for i, cell in enumerate(cells)}
        failed = False
        while pending:
            (done,), _ = ray.wait(list(pending), num_returns=1)
            index = pending.pop(done)
            try:
                output = ray.get(done)
            except ray.exceptions.TaskCancelledError:
                continue
            except Exception as error:
                if not failed:
                    failed = True
                    for ref in pending:
                        ray.cancel(ref)  # queued and running ones stop; the cells finished before stay stored
                yield index, None, getattr(error, "cause", None) or error
                continue
            yield index, output, None


EXECUTORS = {"sequential": Sequential, "processes": Processes, "ray": Ray}


class GridSettings(Settings):
    """``grid:`` in parameters.yml: ``executor`` (a name of :data:`EXECUTORS`), ``store`` (a folder
    for finished cells, or null: no resume), ``progress_bar``, and each executor's options under its
    own name (only the chosen one's are used)."""

    executor: Literal[tuple(EXECUTORS)] = "sequential"
    store: str | None = None
    progress_bar: bool = True
    sequential: Sequential = Sequential()
    processes: Processes = Processes()
    ray: Ray = Ray()

    def grid(self) -> Grid:
        if self.executor == "ray":
            Ray.check_installed()
        return Grid(getattr(self, self.executor), ResultStore(self.store) if self.store else None, self.progress_bar)


class GridCellError(RuntimeError):
    pass


# --- the grid -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Grid:
    """Runs cells with an executor, reusing and storing finished ones, one progress bar per grid."""

    executor: Any = Sequential()
    store: ResultStore | None = None  # None: nothing kept (no resume)
    progress_bar: bool = True

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | GridSettings | None) -> Grid:
        """The grid of ``grid:`` in parameters.yml (:class:`GridSettings`)."""
        return parse(GridSettings, params, "grid").grid()

    def run(self, name: str, cells: Sequence[Cell]) -> list[CellOutput]:
        """Every cell's output, in cell order, id columns inserted. Stored cells are read, not
        trained; each new one is stored as it finishes. A failing cell fails the grid with its ids
        (the cells finished before it stay stored)."""
        cells = list(cells)
        keys = [fingerprint(cell.job) if self.store is not None else None for cell in cells]
        outputs: list[CellOutput | None] = [None] * len(cells)
        if self.store is not None:
            for i, key in enumerate(keys):
                stored = self.store.load(name, key)
                if stored is not None:
                    outputs[i] = with_ids(stored, cells[i].ids)
        missing = [i for i, output in enumerate(outputs) if output is None]
        if len(missing) < len(cells):
            logger.info(
                "grid %s: %d of %d cells already stored, training %d",
                name,
                len(cells) - len(missing),
                len(cells),
                len(missing),
            )
        started, error = time.perf_counter(), None
        with tqdm(
            total=len(cells),
            initial=len(cells) - len(missing),
            desc=f"grid {name}",
            unit="cell",
            disable=not self.progress_bar,
        ) as progress:
            for position, output, failure in self.executor.run([cells[i] for i in missing]):
                index = missing[position]
                if failure is not None:
                    error = error or (index, failure)
                    continue
                if self.store is not None:
                    self.store.save(name, keys[index], output)
                outputs[index] = with_ids(output, cells[index].ids)
                progress.update(1)
                logger.info("grid %s: cell %s done%s", name, cells[index].describe(), _headline(output.rows))
        if error is not None:
            index, failure = error
            raise GridCellError(
                f"grid {name}: cell {cells[index].describe()} failed: {type(failure).__name__}: {failure}"
            ) from failure
        logger.info(
            "grid %s: %d cells in %.1f s (%s)",
            name,
            len(cells),
            time.perf_counter() - started,
            type(self.executor).__name__.lower(),
        )
        return outputs

    def table(self, name: str, cells: Sequence[Cell]) -> pd.DataFrame:
        """The rows of every cell, concatenated."""
        return rows_of(self.run(name, cells))


def _headline(rows: pd.DataFrame) -> str:
    """``: validation F1=0.7 test F1=0.68`` for rows of entity scores, else nothing."""
    if not {"split", "entity_type", "f1"} <= set(rows):
        return ""
    micro = rows[rows["entity_type"] == "micro"]
    return ": " + " ".join(f"{split} F1={f1:.4f}" for split, f1 in zip(micro["split"], micro["f1"]))


def rows_of(outputs: Sequence[CellOutput]) -> pd.DataFrame:
    return pd.concat([output.rows for output in outputs], ignore_index=True)


# --- the one summariser -------------------------------------------------------------------------


def summarise(
    runs: pd.DataFrame,
    by: Sequence[str],
    repeat: str,
    scores: Sequence[str],
    constants: Mapping[str, str] | None = None,
    count: str | None = None,
) -> pd.DataFrame:
    """Mean and sample std (0 for a single repeat) of each score over the ``repeat`` column, per
    group ``by``; ``constants`` maps other columns to an aggregation kept beside them (e.g.
    ``{"expert_sentences": "mean"}``); ``count`` (default ``<repeat>s``) says how many repeats."""
    scores = [score for score in scores if score in runs]
    aggregations: dict[str, tuple[str, str]] = {}
    for score in scores:
        aggregations[f"{score}_mean"] = (score, "mean")
        aggregations[f"{score}_std"] = (score, "std")
    for column, how in (constants or {}).items():
        aggregations[column] = (column, how)
    aggregations[count or f"{repeat}s"] = (repeat, "nunique")
    summary = runs.groupby(list(by), sort=False).agg(**aggregations).reset_index()
    stds = [f"{score}_std" for score in scores]
    summary[stds] = summary[stds].fillna(0.0)
    return summary
