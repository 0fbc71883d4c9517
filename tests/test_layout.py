"""Where code lives and how big a node is: the domain core never imports Kedro, no pipeline reaches
into another's modules (what several stages share lives in the core -- plots in
llm_ner.report.plots), no node takes more than four inputs and no function is over 60 lines."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "llm_ner"
# the Kedro side: pipelines, the catalog's dataset types, settings, hooks and the CLI
KEDRO_SIDE = {
    "pipelines",
    "datasets",
    "settings.py",
    "hooks.py",
    "cli.py",
    "pipeline_registry.py",
    "__main__.py",
    "tracking.py",
}


def imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the file's package
                parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)[: -node.level]
                modules.add(".".join(parts + ([node.module] if node.module else [])))
            elif node.module:
                modules.add(node.module)
    return modules


def test_the_domain_core_never_imports_kedro():
    core = [p for p in PACKAGE.rglob("*.py") if p.relative_to(PACKAGE).parts[0] not in KEDRO_SIDE]
    offenders = {
        str(p.relative_to(PACKAGE)): sorted(m for m in imported_modules(p) if m.split(".")[0] == "kedro") for p in core
    }
    assert not {k: v for k, v in offenders.items() if v}


MAX_FUNCTION_LINES = 60  # docs/layout.md, Style: a function reads in one screen


def test_no_function_is_over_sixty_lines():
    long = [
        f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for path in PACKAGE.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, long


def test_no_pipeline_imports_another_pipelines_modules():
    offenders = []
    for path in (PACKAGE / "pipelines").glob("*/*.py"):
        own = path.parent.name
        for module in imported_modules(path):
            parts = module.split(".")
            if parts[:2] == ["llm_ner", "pipelines"] and len(parts) > 2 and parts[2] != own:
                offenders.append(f"{path.relative_to(PACKAGE)} imports {module}")
    assert not offenders, offenders


def test_every_node_of_every_registered_pipeline_takes_at_most_four_inputs():
    """Small nodes: a node reads at most four datasets or parameter groups (a typed settings object
    counts as one); what travels together is one dataset (a stage's student setup, the label prices)."""
    from kedro.framework.project import configure_project

    from llm_ner.pipeline_registry import register_pipelines

    configure_project("llm_ner")
    fat = {
        node.name: node.inputs
        for pipeline in register_pipelines().values()
        for node in pipeline.nodes
        if len(node.inputs) > 4
    }
    assert not fat, fat
