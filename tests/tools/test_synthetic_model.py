"""The suite's own model (amex_scoring/synthetic_model.py, built by conftest.py), and `model/`
left to the user: nothing in the tests reads `model/`."""

from __future__ import annotations

import hashlib
import json
import re

from helpers import ROOT, SYNTHETIC_MODEL

# The booster `make model` wrote on this machine on 2026-11-29: training is reproducible, which
# is what lets the tests pin exact probabilities to the fixture.
BOOSTER_SHA256 = "39204c0e6b89db3f61014918e1a2bd5eeaa2e544d7cad72a60038504fe5f9281"


def test_the_synthetic_recipe_trains_the_same_booster_every_time() -> None:
    assert hashlib.sha256((SYNTHETIC_MODEL / "model.ubj").read_bytes()).hexdigest() == BOOSTER_SHA256
    manifest = json.loads((SYNTHETIC_MODEL / "manifest.json").read_text())
    assert manifest["files"]["model.ubj"] == BOOSTER_SHA256 and manifest["version"] == "1.0.0-synthetic"
    assert manifest["reference"] == {"data": "train.parquet", "customers": 30000}


def test_no_test_reads_the_model_folder_a_user_may_replace() -> None:
    """`model/` is the user's (the README's import writes there); the tests use SYNTHETIC_MODEL."""
    pattern = re.compile(r"""ROOT\s*/\s*["']model["']|["']model/(manifest|model\.ubj|golden|reference)""")
    offenders = [
        str(path.relative_to(ROOT)) for path in (ROOT / "tests").rglob("*.py") if pattern.search(path.read_text())
    ]
    assert offenders == []
