"""XGBoost's own C library, called through ctypes: load a model, predict, explain.

The runtime needs three things from XGBoost: load a UBJSON model, predict probabilities
from a dense float32 matrix, and SHAP contributions for reason codes. Its Python package
does them by calling these same C functions, but importing it also imports SciPy (about
0.4 s of a 1 s cold start), and its `inplace_predict` spends about 0.15 ms of Python and
per-call setup around a one-row prediction, more than the prediction itself. Scores are
bit-identical: the same library computes them (tests compare against `xgboost.Booster`
on every committed model).

The library is the one in the installed `xgboost` wheel, found without importing it.
"""

from __future__ import annotations

import ctypes
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

_LIBRARY_NAME = {"darwin": "libxgboost.dylib", "win32": "xgboost.dll"}.get(sys.platform, "libxgboost.so")
_FloatPointer = ctypes.POINTER(ctypes.c_float)
_ShapePointer = ctypes.POINTER(ctypes.c_uint64)

# Prediction types of XGBoosterPredictFrom* (c_api.h): 0 value, 2 SHAP contributions.
_VALUE = json.dumps(
    {
        "type": 0,
        "training": False,
        "iteration_begin": 0,
        "iteration_end": 0,
        "strict_shape": False,
        "missing": float("nan"),
        "cache_id": 0,
    }
).encode()
_DMATRIX = b'{"missing": NaN, "nthread": 1}'
_CONTRIBUTIONS = json.dumps(
    {"type": 2, "training": False, "iteration_begin": 0, "iteration_end": 0, "strict_shape": False}
).encode()


class BoosterError(Exception):
    """XGBoost refused a model or a call; the message is XGBoost's own."""


def library_path() -> Path:
    """libxgboost from the installed xgboost wheel (its `lib/` folder), without importing xgboost."""
    spec = importlib.util.find_spec("xgboost")
    if spec is None or not spec.submodule_search_locations:
        raise BoosterError("the xgboost package is not installed")
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "lib" / _LIBRARY_NAME
        if path.is_file():
            return path
    raise BoosterError(f"{_LIBRARY_NAME} not found in the xgboost package")


_library: ctypes.CDLL | None = None


def _lib() -> ctypes.CDLL:
    global _library
    if _library is None:
        library = ctypes.CDLL(str(library_path()))
        library.XGBGetLastError.restype = ctypes.c_char_p
        _library = library
    return _library


def _check(code: int) -> None:
    if code != 0:
        raise BoosterError(_lib().XGBGetLastError().decode("utf-8", "replace").strip())


def _array_interface(matrix: np.ndarray) -> bytes:
    """The `__array_interface__` JSON XGBoost reads a C-contiguous float32 matrix from."""
    rows, columns = matrix.shape
    return b'{"data": [%d, true], "shape": [%d, %d], "strides": null, "typestr": "<f4", "version": 3}' % (
        matrix.ctypes.data,
        rows,
        columns,
    )


def _copy_out(result: Any, shape: tuple[int, ...]) -> np.ndarray:
    """Copy XGBoost's output buffer (reused by its next call) into a new float32 array."""
    out = np.empty(shape, dtype=np.float32)
    ctypes.memmove(out.ctypes.data, result, out.nbytes)
    return out


def _expected(shape: Any, dims: ctypes.c_uint64, expected: tuple[int, ...]) -> tuple[int, ...]:
    """The output's shape as XGBoost reports it, if it is the one expected (one output per row)."""
    actual = tuple(int(shape[i]) for i in range(dims.value))
    if actual != expected:
        raise BoosterError(f"the model's output has shape {actual}, expected {expected}: one output per row")
    return expected


class Booster:
    """One loaded XGBoost model. Not thread-safe (XGBoost reuses its output buffer)."""

    def __init__(self, model: bytes) -> None:
        lib = _lib()
        self._handle = ctypes.c_void_p()
        _check(lib.XGBoosterCreate(None, ctypes.c_uint64(0), ctypes.byref(self._handle)))
        _check(lib.XGBoosterLoadModelFromBuffer(self._handle, model, ctypes.c_uint64(len(model))))
        count = ctypes.c_uint64()
        _check(lib.XGBoosterGetNumFeature(self._handle, ctypes.byref(count)))
        self.num_features = int(count.value)
        self._threads: int | None = None
        # One proxy for every prediction: given none, XGBoost builds one per call, and a
        # proxy's construction (its own context: device-string regex, cgroup CPU files)
        # costs about a third of predicting one row.
        self._proxy = ctypes.c_void_p()
        _check(lib.XGProxyDMatrixCreate(ctypes.byref(self._proxy)))

    def __del__(self) -> None:
        if _library is None:
            return
        if getattr(self, "_proxy", None):
            _library.XGDMatrixFree(self._proxy)
        if getattr(self, "_handle", None):
            _library.XGBoosterFree(self._handle)

    def config(self) -> dict[str, Any]:
        """The learner's configuration (objective, base score...), as XGBoost saves it."""
        length, text = ctypes.c_uint64(), ctypes.c_char_p()
        _check(_lib().XGBoosterSaveJsonConfig(self._handle, ctypes.byref(length), ctypes.byref(text)))
        config: dict[str, Any] = json.loads(ctypes.string_at(text, length.value))
        return config

    def set_threads(self, threads: int) -> None:
        """OpenMP threads per prediction; 0 is every core."""
        if threads != self._threads:
            _check(_lib().XGBoosterSetParam(self._handle, b"nthread", str(threads).encode()))
            self._threads = threads

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        """The model's output (a probability for binary:logistic) per row, as float32."""
        matrix = self._checked(matrix)
        if not matrix.shape[0]:
            return np.empty(0, dtype=np.float32)
        shape, dims, result = _ShapePointer(), ctypes.c_uint64(), _FloatPointer()
        _check(
            _lib().XGBoosterPredictFromDense(
                self._handle,
                _array_interface(matrix),
                _VALUE,
                self._proxy,
                ctypes.byref(shape),
                ctypes.byref(dims),
                ctypes.byref(result),
            )
        )
        return _copy_out(result, _expected(shape, dims, (matrix.shape[0],)))

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        """SHAP contributions per row: one column per feature, then the bias."""
        matrix = self._checked(matrix)
        if not matrix.shape[0]:
            return np.empty((0, self.num_features + 1), dtype=np.float32)
        lib = _lib()
        data = ctypes.c_void_p()
        _check(lib.XGDMatrixCreateFromDense(_array_interface(matrix), _DMATRIX, ctypes.byref(data)))
        try:
            shape, dims, result = _ShapePointer(), ctypes.c_uint64(), _FloatPointer()
            _check(
                lib.XGBoosterPredictFromDMatrix(
                    self._handle, data, _CONTRIBUTIONS, ctypes.byref(shape), ctypes.byref(dims), ctypes.byref(result)
                )
            )
            return _copy_out(result, _expected(shape, dims, (matrix.shape[0], self.num_features + 1)))
        finally:
            lib.XGDMatrixFree(data)

    def _checked(self, matrix: np.ndarray) -> np.ndarray:
        matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[1] != self.num_features:
            raise ValueError(f"expected a (rows, {self.num_features}) matrix, got shape {matrix.shape}")
        return matrix
