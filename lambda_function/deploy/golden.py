"""Golden customers: reference statements, and the probabilities the model must give them.

A model directory's `golden.json` (covered by the manifest's checksums) is written with the
model: by `train` from its own scores of held-out customers, by `import-legacy` from the
user's pickles. `check_golden` scores them through the HTTP function's own path (the /v1 body
schema, the service, the model), so a version that scores differently from what was shipped,
for any reason (another booster, another XGBoost, a changed pipeline), is caught by name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from lambda_function.api.payload import parse_customers
from lambda_function.api.service import ScoringService, latest_of_each_customer
from lambda_function.core.artifacts import ArtifactError
from lambda_function.core.scoring import Model

TOLERANCE = 1e-6


@dataclass(frozen=True)
class GoldenCheck:
    customers: int
    worst_customer: str | None
    expected: float | None
    got: float | None

    @property
    def difference(self) -> float:
        if self.expected is None or self.got is None:
            return 0.0
        return abs(self.got - self.expected)

    @property
    def ok(self) -> bool:
        return self.difference <= TOLERANCE

    def message(self) -> str:
        if self.ok:
            return f"{self.customers} golden customers score as expected (to {TOLERANCE:g})"
        return (
            f"golden customer {self.worst_customer}: expected {self.expected!r}, got {self.got!r} "
            f"(difference {self.difference:.3g} > {TOLERANCE:g}; the worst of {self.customers})"
        )


def golden_body(golden: dict[str, Any]) -> bytes:
    """A /v1/predict body of every golden customer's statements."""
    return json.dumps({"customers": [s for c in golden["customers"] for s in c["statements"]]}).encode()


def scores(model: Model, golden: dict[str, Any]) -> dict[str, float]:
    """Each golden customer's probability, through the HTTP function's path."""
    body = golden_body(golden)
    count = sum(len(c["statements"]) for c in golden["customers"])
    parsed = parse_customers(body, model.inputs, single=False, max_batch=count)
    return {p["customer_ID"]: p["probability"] for p in ScoringService(model).predictions(parsed)}


def check_golden(model: Model) -> GoldenCheck:
    golden = model.artifacts.golden if model.artifacts else None
    if not golden or not golden.get("customers"):
        raise ArtifactError(f"{model.uri}: no golden customers (golden.json) to check")
    refuse_unsound(model, golden)
    got = scores(model, golden)
    worst: tuple[float, str, float, float] | None = None
    for customer in golden["customers"]:
        customer_id, expected = customer["customer_ID"], float(customer["probability"])
        found = got.get(customer_id, float("nan"))
        gap = abs(found - expected) if found == found else float("inf")
        if worst is None or gap > worst[0]:
            worst = (gap, customer_id, expected, found)
    assert worst is not None
    return GoldenCheck(len(golden["customers"]), worst[1], worst[2], worst[3])


def refuse_unsound(model: Model, golden: dict[str, Any]) -> None:
    """A golden file proves nothing with an expectation that is not a probability (a NaN
    difference is never "worse"), or with customers that leave part of the model unexercised: a
    category no customer has (two categories' one-hot columns swapped, one renamed, would pass),
    or an input never missing or never present (a changed imputation would pass)."""
    for customer in golden["customers"]:
        expected = customer.get("probability")
        if type(expected) not in (int, float) or not 0.0 <= expected <= 1.0:  # NaN fails both
            raise ArtifactError(
                f"{model.uri}: golden customer {customer.get('customer_ID')!r} expects {expected!r}, "
                "not a probability from 0 to 1: golden.json cannot be checked"
            )
    gaps = coverage_gaps(model, golden)
    if gaps:
        shown = "; ".join(gaps[:5]) + (f"; and {len(gaps) - 5} more" if len(gaps) > 5 else "")
        raise ArtifactError(
            f"{model.uri}: the golden customers do not exercise the whole model ({shown}): write golden.json "
            "anew with the model (train, import-legacy)"
        )


def coverage_gaps(model: Model, golden: dict[str, Any]) -> list[str]:
    """What the golden customers' scored statements leave unexercised: categories no customer
    has, and inputs never missing (imputed) or never present."""
    body = golden_body(golden)
    count = sum(len(c["statements"]) for c in golden["customers"])
    ids, columns = latest_of_each_customer(
        parse_customers(body, model.inputs, single=False, max_batch=count), model.inputs
    )
    encoded = model.predict(columns, len(ids)).encoded
    gaps = []
    for name, vocabulary in model.pipeline.vocabularies.items():
        seen = set(encoded.positions[name].tolist())
        gaps += [f"{name} = {category!r}" for at, category in enumerate(vocabulary.categories) if at not in seen]
    for name in model.pipeline.imputation:
        missing = np.isnan(np.asarray([np.nan if v is None else v for v in columns[name]], dtype=np.float64))
        if not missing.any():
            gaps.append(f"{name} missing")
        if missing.all():
            gaps.append(f"{name} present")
    return gaps
