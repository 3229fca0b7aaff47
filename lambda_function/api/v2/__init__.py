"""The Open Inference Protocol (KServe V2) REST: inference requests in, responses out, no HTTP.

Requests follow the tabular convention of MLServer's pandas codec: one input per column
(`customer_ID` as BYTES, optional `S_2` as BYTES, the model's inputs as numbers, or BYTES for
categoricals), `shape` `[n]` or `[n, 1]`. Data comes as JSON or, with the binary tensor
extension, as raw little-endian bytes after the JSON header (`Inference-Header-Content-Length`;
BYTES elements each a 4-byte length, then the bytes). Spec:
https://github.com/kserve/open-inference-protocol/blob/main/specification/protocol/inference_rest.md
and the binary extension:
https://github.com/triton-inference-server/server/blob/main/docs/protocol/extension_binary_data.md

Here: `protocol` (datatypes, the request's structure, errors), `tensors` (a body to columns, JSON
and binary), `request` (columns to what scoring reads, by the input rules), `response`.
"""

from lambda_function.api.v2.protocol import OUTPUTS, InferRequest, RequestedOutput, V2Error
from lambda_function.api.v2.request import parse_infer
from lambda_function.api.v2.response import infer_response
from lambda_function.api.v2.tensors import split_body

__all__ = ["OUTPUTS", "InferRequest", "RequestedOutput", "V2Error", "infer_response", "parse_infer", "split_body"]
