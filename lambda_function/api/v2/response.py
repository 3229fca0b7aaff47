"""Scores to an inference response: JSON, or a JSON header then the binary outputs."""

from __future__ import annotations

import itertools
import json
from typing import Any

import msgspec
import numpy as np

from lambda_function.api.v2.protocol import NUMERIC_TYPES, OUTPUTS, U32, InferRequest


def infer_response(
    request: InferRequest, predictions: list[dict[str, Any]], model_name: str, model_version: str
) -> tuple[bytes, dict[str, str]]:
    """The response body and its headers: JSON, or a JSON header then the binary outputs."""
    outputs, binary = [], []
    for output in request.outputs:
        tensor: dict[str, Any] = {"name": output.name, "datatype": OUTPUTS[output.name], "shape": [len(predictions)]}
        values = _output_values(output.name, predictions)
        if output.binary:
            data = _to_binary(OUTPUTS[output.name], values)
            tensor["parameters"] = {"binary_data_size": len(data)}
            binary.append(data)
        else:
            tensor["data"] = values
        outputs.append(tensor)
    warnings = [f"{p['customer_ID']}: {w}" for p in predictions for w in p["warnings"]]
    if request.unknown_inputs:
        warnings.insert(0, f"unknown inputs ignored: {', '.join(request.unknown_inputs)}")
    response: dict[str, Any] = {"model_name": model_name, "model_version": model_version, "outputs": outputs}
    if request.id is not None:
        response["id"] = request.id
    if warnings:
        response["parameters"] = {"warnings": warnings}
    header = msgspec.json.encode(response)  # probabilities are finite: checked when scored
    if not binary:
        return header, {"content-type": "application/json"}
    return header + b"".join(binary), {
        "content-type": "application/octet-stream",
        "Inference-Header-Content-Length": str(len(header)),
    }


def _output_values(name: str, predictions: list[dict[str, Any]]) -> list[Any]:
    if name == "reasons":  # BYTES: each customer's reasons as JSON text
        return [json.dumps(p.get("reasons", [])) for p in predictions]
    return [p[name] for p in predictions]


def _to_binary(datatype: str, values: list[Any]) -> bytes:
    if datatype != "BYTES":
        return np.asarray(values, dtype=NUMERIC_TYPES[datatype]).tobytes()
    elements = [value.encode("utf-8") for value in values]
    return b"".join(itertools.chain.from_iterable(zip(map(U32.pack, map(len, elements)), elements, strict=True)))
