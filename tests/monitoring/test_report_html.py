"""The report a person reads (`amex-scoring outcomes --out DIR`): self-contained, and its plots
render in a real browser. Debian's chromium, headless, takes a screenshot of report.html opened
from disk with the network unreachable; the test decodes the PNG and counts the plots' colours
(the calibration dots and this file's bars in blue, training's bars in orange). Skips without
chromium, with one line; CI installs it (.ci/run), and there a skip is a failure."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
from helpers import SYNTHETIC_MODEL

from amex_scoring.cli import main
from amex_scoring.synth import write_synthetic
from lambda_function.monitoring.html import BLUE, ORANGE


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if found is None:
        reason = "no chromium on this machine: the report's rendering test needs one (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run it, but {reason}")
        pytest.skip(reason)
    return found


def _pixels(png: bytes) -> np.ndarray:
    """An 8-bit, non-interlaced RGB or RGBA PNG (what chromium writes) as rows of RGB pixels."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    at, chunks, header = 8, [], b""
    while at < len(png):
        (length,), kind = struct.unpack(">I", png[at : at + 4]), png[at + 4 : at + 8]
        data = png[at + 8 : at + 8 + length]
        header = data if kind == b"IHDR" else header
        chunks += [data] if kind == b"IDAT" else []
        at += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour, interlace)
    channels = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(b"".join(chunks)), width * channels
    rows, previous = [], bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        _unfilter(kind, line, previous, channels)
        rows.append(np.frombuffer(bytes(line), dtype=np.uint8).reshape(width, channels)[:, :3])
        previous = line
    return np.stack(rows)


def _unfilter(kind: int, line: bytearray, up: bytearray, bpp: int) -> None:
    for i in range(len(line)):
        left = line[i - bpp] if i >= bpp else 0
        above, corner = up[i], up[i - bpp] if i >= bpp else 0
        if kind == 1:
            line[i] = (line[i] + left) & 255
        elif kind == 2:
            line[i] = (line[i] + above) & 255
        elif kind == 3:
            line[i] = (line[i] + (left + above) // 2) & 255
        elif kind == 4:
            p = left + above - corner
            pa, pb, pc = abs(p - left), abs(p - above), abs(p - corner)
            line[i] = (line[i] + (left if pa <= pb and pa <= pc else above if pb <= pc else corner)) & 255


def _count(pixels: np.ndarray, colour: str) -> int:
    rgb = np.array([int(colour[k : k + 2], 16) for k in (1, 3, 5)], dtype=np.uint8)
    return int(np.all(pixels == rgb, axis=2).sum())


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
    shot = tmp_path / "report.png"
    command = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--proxy-server=127.0.0.1:9",  # no network: a self-contained page needs none
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1200,1000",
        f"--screenshot={shot}",
        (report / "report.html").as_uri(),
    ]
    subprocess.run(command, capture_output=True, timeout=120, check=True)
    pixels = _pixels(shot.read_bytes())
    assert pixels.shape[:2] == (1000, 1200)
    assert _count(pixels, BLUE) > 2000, "the calibration dots and this file's bars did not render"
    assert _count(pixels, ORANGE) > 1000, "training's bars did not render"
