"""The report a person reads (`amex-scoring outcomes --out DIR`): self-contained, and its plots
render in a real browser. Debian's chromium, headless, takes a screenshot of report.html opened
from disk with the network unreachable; the test decodes the PNG and counts the plots' colours
(the calibration dots and this file's bars in blue, training's bars in orange). Skips without
chromium, with one line; CI installs it (.ci/run), and there a skip is a failure."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from browser import count, screenshot
from helpers import SYNTHETIC_MODEL

from amex_scoring.cli import main
from amex_scoring.synth import write_synthetic
from lambda_function.monitoring.html import BLUE, ORANGE


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("report")
    statements, labels, predictions = folder / "s.parquet", folder / "labels.csv", folder / "p.parquet"
    write_synthetic(statements, 3000, statements=2, seed=12, labels_out=labels)
    assert main(["score", "--model", str(SYNTHETIC_MODEL), str(statements), str(predictions)]) == 0
    out = folder / "out"
    argv = ["outcomes", str(predictions), "--labels", str(labels), "--model", str(SYNTHETIC_MODEL), "--out", str(out)]
    assert main(argv) == 0
    return out


def test_the_report_is_self_contained(report: Path) -> None:
    page = (report / "report.html").read_text()
    assert not re.search(r"""(src|href)\s*=""", page)  # nothing to fetch
    assert set(re.findall(r"https?://[^\s\"'<>]+", page)) == {"http://www.w3.org/2000/svg"}  # a namespace name
    written = json.loads((report / "report.json").read_text())
    assert page.count("<svg") == 2 and f"AUC {written['metrics']['auc']:.4f}" in page


def test_the_plots_render_in_a_real_browser(report: Path, tmp_path: Path) -> None:
    pixels = screenshot(report / "report.html", tmp_path)
    assert pixels.shape[:2] == (1000, 1200)
    assert count(pixels, BLUE) > 2000, "the calibration dots and this file's bars did not render"
    assert count(pixels, ORANGE) > 1000, "training's bars did not render"
