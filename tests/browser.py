"""A real browser for the reports' tests: Debian's chromium, headless, with the network unreachable,
takes a screenshot of a page opened from disk; the PNG is decoded here (no imaging library in the
dev environment) so a test can count the plots' colours. Skips without chromium, with one line;
CI installs it (.ci/run), and there a skip is a failure."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if found is None:
        reason = "no chromium on this machine: the report's rendering test needs one (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run it, but {reason}")
        pytest.skip(reason)
    return found


def pixels(png: bytes) -> np.ndarray:
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


def count(pixels: np.ndarray, colour: str) -> int:
    rgb = np.array([int(colour[k : k + 2], 16) for k in (1, 3, 5)], dtype=np.uint8)
    return int(np.all(pixels == rgb, axis=2).sum())


def screenshot(page: Path, folder: Path, size: tuple[int, int] = (1200, 1000)) -> np.ndarray:
    """The page as chromium draws it, as rows of RGB pixels."""
    shot = folder / "page.png"
    command = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--proxy-server=127.0.0.1:9",  # no network: a self-contained page needs none
        f"--user-data-dir={folder / 'profile'}",
        f"--window-size={size[0]},{size[1]}",
        f"--screenshot={shot}",
        page.as_uri(),
    ]
    subprocess.run(command, capture_output=True, timeout=120, check=True)
    return pixels(shot.read_bytes())
