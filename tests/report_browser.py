"""Render an HTML file in headless Chromium (Debian `chromium`) and say whether the page shows anything."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def screenshot(page: Path, out: Path, height: int = 2400) -> Image.Image:
    if BROWSER is None:
        pytest.skip(
            "headless Chromium is not installed (Debian: apt-get install chromium; `make install-test` "
            "does it when run as root)"
        )
    subprocess.run(
        [
            BROWSER,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--screenshot={out}",
            f"--window-size=1200,{height}",
            page.resolve().as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return Image.open(out).convert("RGB")


def looks_blank(image: Image.Image) -> bool:
    """A blank page is (nearly) one colour; a rendered report has text, tables and figures."""
    colours = image.resize((300, 600)).getcolors(maxcolors=100_000) or []
    return len(colours) < 50
