"""What the HTTP routes answer, without HTTP: parsed bodies in, response dicts out.

The routes in api.py only read the request and write this object's answers, so everything
a customer sees can be tested here with no server, and a new protocol calls the same methods.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import Any, Protocol

from lambda_function.api.limits import MAX_RESPONSE_BYTES, response_bound
from lambda_function.api.payload import RequestError
from lambda_function.api.v2 import OUTPUTS, InferRequest, V2Error
from lambda_function.core.drift import reference_status
from lambda_function.core.latest import latest_statements
from lambda_function.core.schema import CUSTOMER_ID, STATEMENT_DATE
from lambda_function.core.scoring import Model
from lambda_function.monitoring.decisions import Decisions
from lambda_function.monitoring.recorder import CaptureRecorder
from lambda_function.telemetry import MetricUnit, metrics


class CustomerRows(Protocol):
    """A request's statements by field: a /v1 body (payload.ParsedBody) or a V2 one (v2.InferRequest)."""

    unknown_fields: dict[str, set[str]]

    def columns(self, names: Sequence[str]) -> dict[str, Any]: ...


class ScoringService:
    """The loaded model and the answers built from it."""

    def __init__(self, model: Model, capture: CaptureRecorder | None = None) -> None:
        self.model, self.capture = model, capture

    def predict(self, body: CustomerRows, explain: int = 0, request_id: str = "") -> dict[str, Any]:
        """`/v1/predict`'s answer: one prediction per customer, in request order."""
        model = self.model
        predictions = self.predictions(body, explain, ("v1", request_id))
        return {"model": {"name": model.name, "version": model.version}, "predictions": predictions}

    def legacy(self, body: CustomerRows, request_id: str = "") -> dict[str, Any]:
        """The original Flask service's answer for its one customer."""
        [prediction] = self.predictions(body, 0, ("legacy", request_id))
        return {"creditworthiness": prediction["probability"], "customer_default": prediction["default"]}

    def predictions(
        self, body: CustomerRows, explain: int = 0, origin: tuple[str, str] = ("v1", "")
    ) -> list[dict[str, Any]]:
        """Plain dicts, written to the response directly rather than re-validated. `origin`:
        the capture's source and request id."""
        model = self.model
        ids, columns = latest_of_each_customer(body, [*model.inputs, STATEMENT_DATE] if self.capture else model.inputs)
        check_response_size(ids, explain)
        dates = columns.pop(STATEMENT_DATE, None)
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
        if self.capture is not None:
            source, request_id = origin
            now = dt.datetime.now(dt.UTC)
            self.capture.add(Decisions(source, request_id, now, ids, dates, columns, scores, warnings))
        return predictions

    def v2_model(self, name: str, version: str | None) -> Model:
        """The model a V2 path names; a 404 in the protocol's shape for another name or version."""
        model = self.model
        if name != model.name or version not in (None, model.version):
            raise V2Error(
                404,
                f"no model {name!r}"
                + (f" version {version!r}" if version else "")
                + f": this server has {model.name!r} version {model.version!r}",
            )
        return model

    def v2_metadata(self, name: str, version: str | None) -> dict[str, Any]:
        model = self.v2_model(name, version)
        numeric = set(model.pipeline.imputation)
        inputs = [
            {"name": CUSTOMER_ID, "datatype": "BYTES", "shape": [-1]},
            {"name": STATEMENT_DATE, "datatype": "BYTES", "shape": [-1]},
        ]
        inputs += [{"name": n, "datatype": "FP64" if n in numeric else "BYTES", "shape": [-1]} for n in model.inputs]
        outputs = [{"name": n, "datatype": t, "shape": [-1]} for n, t in OUTPUTS.items()]
        return {
            "name": model.name,
            "versions": [model.version],
            "platform": "xgboost",
            "inputs": inputs,
            "outputs": outputs,
        }

    def v2_infer(self, request: InferRequest, request_id: str = "") -> list[dict[str, Any]]:
        top = max((output.top for output in request.outputs), default=0)
        return self.predictions(request, top, ("v2", request_id))

    def health(self) -> dict[str, Any]:
        model = {
            "name": self.model.name,
            "version": self.model.version,
            "checksum": self.model.checksum,
            "xgboost": self.model.xgboost_version,
        }
        return {"status": "ok", "ready": True, "model": model}

    def describe(self) -> dict[str, Any]:
        """The model's public description: inputs, categories, threshold, training metrics."""
        model = self.model
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
            "drift_reference": reference_status(model.artifacts.reference if model.artifacts else None),
            "golden_customers": len((model.artifacts.golden or {}).get("customers", [])) if model.artifacts else 0,
        }


def latest_of_each_customer(body: CustomerRows, inputs: list[str]) -> tuple[list[str], dict[str, Any]]:
    """The customers' IDs and input columns, one row each: several statements of a customer
    are one customer, whose latest `S_2` is scored."""
    columns = body.columns([CUSTOMER_ID, *inputs])
    ids = columns.pop(CUSTOMER_ID)
    if len(set(ids)) == len(ids):
        return ids, columns
    rows = latest_statements(ids, body.columns([STATEMENT_DATE])[STATEMENT_DATE])
    return [ids[row] for row in rows], {name: [values[row] for row in rows] for name, values in columns.items()}


def check_response_size(ids: list[str], reasons: int) -> None:
    """Refuse, as a 413 before it is built, an answer that could pass Lambda's response limit."""
    bound = response_bound(ids, reasons)
    if bound > MAX_RESPONSE_BYTES:
        raise RequestError(
            413,
            "response_too_large",
            f"the answer for {len(ids)} customers with {reasons} reasons each could be {bound / 2**20:.1f} MB, over "
            f"Lambda's {MAX_RESPONSE_BYTES // 2**20} MB response limit: ask for fewer customers or fewer reasons",
        )
