"""The Open Inference Protocol's vocabulary: datatypes, the request's structure, its decoded form, errors."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import msgspec
import numpy as np

HEADER_LENGTH = "inference-header-content-length"
NUMERIC_TYPES = {
    "BOOL": "<?",
    "UINT8": "<u1",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
    "INT8": "<i1",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "FP16": "<f2",
    "FP32": "<f4",
    "FP64": "<f8",
}
DTYPES = {datatype: np.dtype(code) for datatype, code in NUMERIC_TYPES.items()}
U32 = struct.Struct("<I")
OUTPUTS = {"customer_ID": "BYTES", "probability": "FP64", "default": "BOOL", "reasons": "BYTES"}


class V2Error(Exception):
    """The protocol's error: a status and `{"error": message}`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@dataclass(frozen=True)
class RequestedOutput:
    name: str
    binary: bool
    top: int = 0  # reasons per customer, for `reasons`


@dataclass
class InferRequest:
    """A decoded request: its columns by input name, one row per statement."""

    id: str | None
    data: dict[str, Any]  # input name -> one value per row: numpy numbers, or a list
    rows: int
    outputs: Sequence[RequestedOutput]
    unknown_inputs: list[str] = field(default_factory=list)
    unknown_fields: dict[str, set[str]] = field(default_factory=dict)  # as ParsedBody's; named per request here

    def columns(self, names: Sequence[str]) -> dict[str, Any]:
        """ParsedBody's interface, so the one scoring path reads either."""
        data = self.data
        return {name: data[name] if name in data else [None] * self.rows for name in names}


def fail(message: str) -> V2Error:
    return V2Error(400, message)


Datatype = Literal[
    "BYTES", "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64"
]  # fmt: skip


class Tensor(msgspec.Struct):
    name: str
    shape: list[Annotated[int, msgspec.Meta(ge=0)]]
    datatype: Datatype
    parameters: dict[str, Any] = msgspec.field(default_factory=dict)
    data: list[Any] | None = None


class Request(msgspec.Struct):
    inputs: Annotated[list[Tensor], msgspec.Meta(min_length=1)]
    id: str | None = None
    parameters: dict[str, Any] = msgspec.field(default_factory=dict)
    outputs: list[dict[str, Any]] | None = None
