"""The README stays a short entry point, and every relative link in it and in docs/ leads to a file."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_every_relative_link_leads_to_a_file():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    broken = [f"{page.relative_to(ROOT)}: {target}" for page in pages for target in LINK.findall(page.read_text())
              if "://" not in target and not (page.parent / target).exists()]
    assert not broken, broken


def test_the_readme_is_an_entry_point_not_the_manual():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.encode()) < 10_240  # ~10 KB: the rest lives under docs/
    assert "make test" in readme and "make run" in readme  # .ci/run runs the README's test command
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert f"docs/{page.name}" in readme, f"{page.name} is not linked from the README"
