"""What the HTTP routes answer, without HTTP: parsed bodies in, response dicts out.

The routes in api.py only read the request and write this object's answers, so everything
a customer sees can be tested here with no server, and a new protocol calls the same methods.
"""

from __future__ import annotations

import math
from typing import Any

from .latest import latest_statements
from .payload import ParsedBody, RequestError
from .schema import CUSTOMER_ID, STATEMENT_DATE
from .scoring import Model
from .telemetry import MetricUnit, metrics


class ScoringService:
    """The loaded model (or why it did not load) and the answers built from it."""

    def __init__(self, model: Model | None, load_error: str | None = None) -> None:
        self.model, self.load_error = model, load_error

    def ready(self) -> Model:
        if self.model is None:
            raise RequestError(503, "model_unavailable", f"model not loaded: {self.load_error}")
        return self.model

    def predict(self, body: ParsedBody, explain: int = 0) -> dict[str, Any]:
        """`/v1/predict`'s answer: one prediction per customer, in request order."""
        model = self.ready()
        return {"model": {"name": model.name, "version": model.version}, "predictions": self.predictions(body, explain)}

    def legacy(self, body: ParsedBody) -> dict[str, Any]:
        """The original Flask service's answer for its one customer."""
        [prediction] = self.predictions(body)
        return {"creditworthiness": prediction["probability"], "customer_default": prediction["default"]}

    def predictions(self, body: ParsedBody, explain: int = 0) -> list[dict[str, Any]]:
        """Plain dicts, written to the response directly rather than re-validated."""
        model = self.ready()
        ids, columns = _latest_of_each_customer(body, model.inputs)
        scores = model.predict(columns, len(ids))
        probabilities, defaults = scores.probability.tolist(), scores.default.tolist()
        if any(map(math.isnan, probabilities)):  # validation admits only finite numbers: a bug if reached
            raise RuntimeError("a validated customer could not be scored")
        warnings = scores.encoded.warnings  # this request's own lists: safe to extend
        if body.unknown_fields:
            for row, customer_id in enumerate(ids):
                if customer_id in body.unknown_fields:
                    warnings[row].append(
                        f"unknown fields ignored: {', '.join(sorted(body.unknown_fields[customer_id]))}"
                    )
        predictions = [
            {"customer_ID": customer_id, "probability": probability, "default": default, "warnings": notes}
            for customer_id, probability, default, notes in zip(ids, probabilities, defaults, warnings, strict=True)
        ]
        if explain:
            for prediction, reasons in zip(predictions, model.explain(scores.encoded, explain), strict=True):
                prediction["reasons"] = reasons
        metrics.add_metric(name="CustomersScored", unit=MetricUnit.Count, value=len(predictions))
        return predictions

    def health(self) -> tuple[int, dict[str, Any]]:
        if self.model is None:
            return 503, {"status": "unavailable", "ready": False, "error": self.load_error}
        model = {
            "name": self.model.name,
            "version": self.model.version,
            "checksum": self.model.checksum,
            "xgboost": self.model.xgboost_version,
        }
        return 200, {"status": "ok", "ready": True, "model": model}

    def describe(self) -> dict[str, Any]:
        """The model's public description: inputs, categories, threshold, training metrics."""
        model = self.ready()
        manifest = model.manifest
        return {
            "name": model.name,
            "version": model.version,
            "created": manifest.get("created"),
            "source": manifest.get("source"),
            "checksum": model.checksum,
            "xgboost": model.xgboost_version,
            "threshold": model.threshold,
            "inputs": {
                "numeric": list(model.pipeline.imputation),
                "categorical": {name: v.categories for name, v in model.pipeline.vocabularies.items()},
            },
            "metrics": manifest.get("metrics", {}),
        }


def _latest_of_each_customer(body: ParsedBody, inputs: list[str]) -> tuple[list[str], dict[str, list[Any]]]:
    """The customers' IDs and input columns, one row each: several statements of a customer
    are one customer, whose latest `S_2` is scored."""
    columns = body.columns([CUSTOMER_ID, *inputs])
    ids = columns.pop(CUSTOMER_ID)
    if len(set(ids)) == len(ids):
        return ids, columns
    rows = latest_statements(ids, body.columns([STATEMENT_DATE])[STATEMENT_DATE])
    return [ids[row] for row in rows], {name: [values[row] for row in rows] for name, values in columns.items()}
