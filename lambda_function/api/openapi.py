"""The HTTP API's OpenAPI description: request bodies with examples, responses, every status.

The scoring endpoints read their bodies themselves (payload.py), so FastAPI cannot derive
their schemas: they are declared here, from the same pydantic types that validate them.
Every status an operation can answer is listed with the schema of its body.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from lambda_function.api.payload import customer_schema
from lambda_function.api.v2.protocol import OUTPUTS
from lambda_function.core.rules import MAX_EXPLAIN
from lambda_function.core.schema import CUSTOMER_ID, STATEMENT_DATE
from lambda_function.core.scoring import Model

REF_TEMPLATE = "#/components/schemas/{model}"


class ModelInfo(BaseModel):
    name: str
    version: str


class Reason(BaseModel):
    feature: str
    value: float | str | None
    contribution: float


class Prediction(BaseModel):
    customer_ID: str
    probability: float
    default: bool
    warnings: list[str]
    reasons: list[Reason] | None = None


class PredictResponse(BaseModel):
    model: ModelInfo
    predictions: list[Prediction]


class LegacyResponse(BaseModel):
    creditworthiness: float
    customer_default: bool


class FieldError(BaseModel):
    field: str
    loc: list[str | int]
    msg: str
    type: str


class ErrorResponse(BaseModel):
    error: str
    message: str
    request_id: str | None
    detail: list[FieldError] | None = None


class LoadedModel(BaseModel):
    name: str
    version: str
    checksum: str
    xgboost: str


class HealthResponse(BaseModel):
    status: str
    ready: bool
    model: LoadedModel


class ModelInputs(BaseModel):
    numeric: list[str]
    categorical: dict[str, list[str]]


class ModelDescription(BaseModel):
    name: str
    version: str
    created: str | None
    source: Any
    checksum: str
    xgboost: str
    threshold: float
    inputs: ModelInputs
    metrics: dict[str, Any]
    # {"status": "present", "customers": n, "inputs": k}, or {"status": "no reference", "message": ...}:
    # without reference.json drift is not measured anywhere (lambda_function/core/drift.py)
    drift_reference: dict[str, Any]
    golden_customers: int  # reference customers the model directory carries (amex-scoring verify-model)


class V2ErrorResponse(BaseModel):
    error: str


class V2Server(BaseModel):
    name: str
    version: str
    extensions: list[str]


class V2Live(BaseModel):
    live: bool


class V2Ready(BaseModel):
    ready: bool


class V2TensorMetadata(BaseModel):
    name: str
    datatype: str
    shape: list[int]


class V2ModelMetadata(BaseModel):
    name: str
    versions: list[str]
    platform: str
    inputs: list[V2TensorMetadata]
    outputs: list[V2TensorMetadata]


class V2ModelReady(BaseModel):
    name: str
    ready: bool


class V2OutputTensor(BaseModel):
    name: str
    datatype: str
    shape: list[int]
    data: list[Any] | None = None
    parameters: dict[str, Any] | None = None


class V2InferResponse(BaseModel):
    model_name: str
    model_version: str
    id: str | None = None
    parameters: dict[str, Any] | None = None
    outputs: list[V2OutputTensor]


RESPONSE_MODELS: list[type[BaseModel]] = [
    PredictResponse,
    LegacyResponse,
    ErrorResponse,
    HealthResponse,
    ModelDescription,
    V2ErrorResponse,
    V2Server,
    V2Live,
    V2Ready,
    V2ModelMetadata,
    V2ModelReady,
    V2InferResponse,
]

ERRORS = {
    400: "malformed JSON, a body that is not the gzip its Content-Encoding says, or a malformed Lambda event",
    413: "the body (inflated, if gzip) is over MAX_BODY_BYTES, the batch over MAX_BATCH, or the answer could pass "
    "Lambda's 6 MB response limit (many customers with many reasons)",
    415: "the body is not JSON, or is compressed other than with gzip",
    422: "a field is invalid: `detail` names each",
}

EXPLAIN_PARAMETER = {
    "name": "explain",
    "in": "query",
    "required": False,
    "description": f"add the N inputs that moved each score most (0 to {MAX_EXPLAIN})",
    "schema": {"type": "integer", "minimum": 0, "maximum": MAX_EXPLAIN, "default": 0},
}
# Not a header parameter: the body schema describes the JSON, which a generated `gzip` header
# would then contradict. Said in words instead.
COMPRESSION = "Send `Content-Encoding: gzip` to compress a large body; MAX_BODY_BYTES limits its inflated size."


def ok(model: type[BaseModel], description: str) -> dict[str, Any]:
    """A 200 documented by reference. Not `response_model=`: the endpoints write their JSON
    directly, and FastAPI's response-model setup imports pydantic.v1, which lengthens the cold start."""
    return {"description": description, "content": {"application/json": {"schema": _ref(model)}}}


def responses(model: type[BaseModel], description: str, *errors: int) -> dict[int | str, dict[str, Any]]:
    """A 200 and the error statuses an operation answers, each with its body's schema."""
    documented: dict[int | str, dict[str, Any]] = {200: ok(model, description)}
    for status in errors:
        error = _ref(HealthResponse if model is HealthResponse else ErrorResponse)
        documented[status] = {"description": ERRORS[status], "content": {"application/json": {"schema": error}}}
    return documented


V2_ERRORS = {
    400: "an input is malformed (shape, datatype, data, binary sizes): the message names it",
    404: "no model of that name or version here",
    413: "the body is over MAX_BODY_BYTES",
    415: "the body is compressed other than with gzip",
}

V2_INFER = (
    "Open Inference Protocol (KServe V2) inference. One input per column, as MLServer's pandas codec "
    "sends a DataFrame: `customer_ID` (BYTES, required), `S_2` (BYTES, optional), the model's inputs "
    "(FP32/FP64/INT* for numbers; BYTES or numbers for categoricals), shape `[n]` or `[n, 1]`. Several "
    "rows of one customer are its statements; the latest is scored. Outputs: `customer_ID`, "
    "`probability`, `default`, and `reasons` if asked for (`parameters.top`). The binary tensor "
    "extension is supported: `Inference-Header-Content-Length`, `binary_data_size`, `binary_data`."
)


def v2_path_parameters(path: str, model: Model) -> list[dict[str, Any]]:
    """The model's name (the manifest's) and version in a V2 path: declared here, as the
    endpoints read them from the request themselves. One model is served: its name and version
    are the values (any other is a 404), which also lets a fuzzer past the 404 to the body."""
    described = {
        "name": ("the model's name (GET /v2/models/...)", model.name),
        "version": ("the model's version", model.version),
    }
    return [
        {
            "name": name,
            "in": "path",
            "required": True,
            "description": text,
            "schema": {"type": "string", "enum": [value]},
        }
        for name, (text, value) in described.items()
        if "{" + name + "}" in path
    ]


def v2_responses(
    model: type[BaseModel], description: str, *errors: int, binary: bool = False
) -> dict[int | str, dict[str, Any]]:
    documented: dict[int | str, dict[str, Any]] = {200: ok(model, description)}
    if binary:  # outputs asked for as binary data: the JSON header, then the tensors' bytes
        documented[200]["content"]["application/octet-stream"] = {"schema": {"type": "string", "format": "binary"}}
        documented[200]["headers"] = {
            "Inference-Header-Content-Length": {
                "description": "with binary outputs: the length of the JSON header before the binary data",
                "schema": {"type": "integer", "minimum": 0},
            }
        }
    for status in errors:
        schema = _ref(V2Ready if model is V2Ready else V2ErrorResponse)
        documented[status] = {"description": V2_ERRORS[status], "content": {"application/json": {"schema": schema}}}
    return documented


def v2_infer_body() -> dict[str, Any]:
    tensor = {
        "type": "object",
        "required": ["name", "shape", "datatype"],
        "properties": {
            "name": {"type": "string"},
            "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 1, "maxItems": 2},
            "datatype": {"type": "string", "enum": ["BYTES", "BOOL", "INT32", "INT64", "FP32", "FP64"]},
            "parameters": {"type": "object", "properties": {"binary_data_size": {"type": "integer", "minimum": 0}}},
            "data": {"type": "array"},
        },
    }
    example = {
        "id": "request-1",
        "parameters": {"content_type": "pd"},
        "inputs": [
            {"name": CUSTOMER_ID, "shape": [1], "datatype": "BYTES", "data": ["0" * 63 + "1"]},
            {"name": STATEMENT_DATE, "shape": [1], "datatype": "BYTES", "data": ["2018-03-13"]},
            {"name": "P_2", "shape": [1], "datatype": "FP64", "data": [0.6]},
        ],
    }
    reasons = {"type": "integer", "minimum": 1, "maximum": MAX_EXPLAIN}
    output = {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string", "enum": list(OUTPUTS)},
            "parameters": {"type": "object", "properties": {"binary_data": {"type": "boolean"}, "top": reasons}},
        },
    }
    schema = {
        "type": "object",
        "required": ["inputs"],
        "properties": {
            "id": {"type": ["string", "null"]},
            "parameters": {
                "type": "object",
                "properties": {"binary_data_output": {"type": "boolean"}, "reasons": reasons},
            },
            "inputs": {"type": "array", "items": tensor, "minItems": 1},
            # Each name at most once (a 400 otherwise); null, as clients that serialise unset fields send, is none.
            "outputs": {"anyOf": [{"type": "array", "items": output}, {"type": "null"}]},
        },
    }
    return {"required": True, "content": {"application/json": {"schema": schema, "example": example}}}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF_TEMPLATE.format(model=model.__name__)}


def example_customer(model: Model) -> dict[str, Any]:
    """A typical customer for the docs, from the loaded model's own preprocessing."""
    customer: dict[str, Any] = {CUSTOMER_ID: "0" * 63 + "1", STATEMENT_DATE: "2018-03-13"}
    customer.update({name: round(value, 6) for name, value in model.pipeline.imputation.items()})
    customer.update({name: v.categories[0] for name, v in model.pipeline.vocabularies.items()})
    return customer


CUSTOMER = {"$ref": "#/components/schemas/Customer"}


def predict_body(example: dict[str, Any], max_batch: int) -> dict[str, Any]:
    """One customer, or `{"customers": [...]}` and nothing else beside it."""
    one = {"allOf": [CUSTOMER, {"not": {"required": ["customers"]}}]}
    batch = {
        "type": "object",
        "required": ["customers"],
        "additionalProperties": False,
        "properties": {"customers": {"type": "array", "minItems": 1, "maxItems": max_batch, "items": CUSTOMER}},
    }
    examples = {
        "one customer": {"value": example},
        "batch": {"value": {"customers": [example, {**example, CUSTOMER_ID: "0" * 63 + "2"}]}},
    }
    return {
        "required": True,
        "content": {"application/json": {"schema": {"oneOf": [one, batch]}, "examples": examples}},
    }


def legacy_body(example: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": CUSTOMER, "example": example}}}


def install(app: FastAPI) -> None:
    """Adds the schemas the hand-written bodies and responses reference, when the docs are first asked for."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            customer = customer_schema(frozenset(app.state.inputs)).one
            components["Customer"] = customer.json_schema(ref_template=REF_TEMPLATE)
            _, responses = models_json_schema(
                [(model, "serialization") for model in RESPONSE_MODELS], ref_template=REF_TEMPLATE
            )
            components.update(responses["$defs"])
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
