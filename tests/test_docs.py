"""The README stays a short entry point, and every relative link in it and in docs/ leads to a file."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_every_relative_link_leads_to_a_file():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    broken = [
        f"{page.relative_to(ROOT)}: {target}"
        for page in pages
        for target in LINK.findall(page.read_text())
        if "://" not in target and not (page.parent / target).exists()
    ]
    assert not broken, broken


def test_the_readme_is_an_entry_point_not_the_manual():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.encode()) < 10_240  # ~10 KB: the rest lives under docs/
    assert "make test" in readme and "make run" in readme  # .ci/run runs the README's test command
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert f"docs/{page.name}" in readme, f"{page.name} is not linked from the README"


def quick_start_commands() -> list[str]:
    """Every command line of the README's shell blocks, comments dropped."""
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    lines = [line.split("  #")[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def test_every_quick_start_command_answers_help_and_names_real_pipelines_and_parameters():
    """Each documented `kedro`, `mlflow` and `jupyter` command exists in the venv `make` builds (its
    `--help` answers), and a `kedro run` names registered pipelines and parameters the run accepts."""
    import os
    import subprocess
    import sys

    from kedro.framework.project import configure_project

    from llm_ner.parameters import check_parameters
    from llm_ner.pipeline_registry import register_pipelines
    from llm_ner.settings import project_parameters

    configure_project("llm_ner")
    registered = set(register_pipelines())
    bin_folder = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_folder}{os.pathsep}{os.environ['PATH']}", "KEDRO_DISABLE_TELEMETRY": "true"}
    checked = set()
    for command in quick_start_commands():
        words = command.split()
        if words[0] not in ("kedro", "mlflow", "jupyter"):
            continue
        path = [words[0]]
        for word in words[1:]:
            if word.startswith("-") or any(c in word for c in "/=."):
                break
            path.append(word)
        checked.add(" ".join(path))
        result = subprocess.run(
            [str(bin_folder / path[0]), *path[1:], "--help"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, f"{command}: {result.stderr[-2000:]}"
        if path[:2] == ["kedro", "run"]:
            options = dict(zip(words[2::2], words[3::2]))
            for name in (options.get("--pipeline") or options.get("--pipelines") or "__default__").split(","):
                assert name in registered, f"{command}: no pipeline {name!r}"
            runtime = {}
            for pair in filter(None, options.get("--params", "").split(",")):
                key, value = pair.split("=", 1)
                *groups, leaf = key.split(".")
                inner = runtime
                for group in groups:
                    inner = inner.setdefault(group, {})
                inner[leaf] = value
            check_parameters(project_parameters("base", str(ROOT / "conf"), runtime_params=runtime))
    assert {"kedro run", "kedro viz run", "jupyter lab", "kedro mlflow ui", "mlflow models serve"} <= checked
