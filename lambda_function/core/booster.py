"""XGBoost's own C library, called through ctypes: load a model, predict, explain.

The runtime needs three things from XGBoost: load a UBJSON model, predict probabilities
from a dense float32 matrix, and SHAP contributions for reason codes. Its Python package
does them by calling these same C functions, but importing it also imports SciPy (a large
share of a cold start, and of the image), and its `inplace_predict` spends more Python and
per-call setup around a one-row prediction than the prediction itself takes. Scores are
bit-identical: the same library computes them (tests compare against `xgboost.Booster`
on every committed model).

The library is the one in the installed `xgboost` wheel, found without importing it.
"""

from __future__ import annotations

import ctypes
import importlib.util
import json
import sys
import threading
import weakref
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


# XGBoost versions whose C API this binding was checked against (the functions below and
# their signatures, c_api.h): 2.1 is the oldest with XGBoosterPredictFromDense's proxy.
SUPPORTED_VERSIONS = ((2, 1), (4, 0))  # from (inclusive), to (exclusive)

_c_void_p_p = ctypes.POINTER(ctypes.c_void_p)
_c_uint64_p = ctypes.POINTER(ctypes.c_uint64)
_c_char_p_p = ctypes.POINTER(ctypes.c_char_p)
_c_int_p = ctypes.POINTER(ctypes.c_int)
# Every C function called, with its argument and result types: ctypes then converts and
# checks each call instead of guessing (a guessed 64-bit pointer or length is silently cut).
_SIGNATURES: dict[str, tuple[list[Any], Any]] = {
    "XGBoostVersion": ([_c_int_p, _c_int_p, _c_int_p], None),
    "XGBGetLastError": ([], ctypes.c_char_p),
    "XGBoosterCreate": ([_c_void_p_p, ctypes.c_uint64, _c_void_p_p], ctypes.c_int),
    "XGBoosterFree": ([ctypes.c_void_p], ctypes.c_int),
    "XGBoosterLoadModelFromBuffer": ([ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint64], ctypes.c_int),
    "XGBoosterGetNumFeature": ([ctypes.c_void_p, _c_uint64_p], ctypes.c_int),
    "XGBoosterSaveJsonConfig": ([ctypes.c_void_p, _c_uint64_p, _c_char_p_p], ctypes.c_int),
    "XGBoosterSetParam": ([ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p], ctypes.c_int),
    "XGProxyDMatrixCreate": ([_c_void_p_p], ctypes.c_int),
    "XGDMatrixCreateFromDense": ([ctypes.c_char_p, ctypes.c_char_p, _c_void_p_p], ctypes.c_int),
    "XGDMatrixFree": ([ctypes.c_void_p], ctypes.c_int),
    "XGBoosterPredictFromDense": (
        [
            ctypes.c_void_p,
            ctypes.c_char_p,
            ctypes.c_char_p,
            ctypes.c_void_p,
            ctypes.POINTER(_ShapePointer),
            _c_uint64_p,
            ctypes.POINTER(_FloatPointer),
        ],
        ctypes.c_int,
    ),
    "XGBoosterPredictFromDMatrix": (
        [
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_char_p,
            ctypes.POINTER(_ShapePointer),
            _c_uint64_p,
            ctypes.POINTER(_FloatPointer),
        ],
        ctypes.c_int,
    ),
}

_library: ctypes.CDLL | None = None


def _lib() -> ctypes.CDLL:
    global _library
    if _library is None:
        library = ctypes.CDLL(str(library_path()))
        for name, (arguments, result) in _SIGNATURES.items():
            function = getattr(library, name)
            function.argtypes, function.restype = arguments, result
        _library = library
        check_version(xgboost_version())
    return _library


def xgboost_version() -> tuple[int, int, int]:
    """The version of the loaded XGBoost library, as it reports it."""
    major, minor, patch = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
    (_library or _lib()).XGBoostVersion(ctypes.byref(major), ctypes.byref(minor), ctypes.byref(patch))
    return major.value, minor.value, patch.value


def check_version(version: tuple[int, int, int]) -> None:
    low, high = SUPPORTED_VERSIONS
    if not low <= version[:2] < high:
        shown = ".".join(map(str, version))
        raise BoosterError(
            f"XGBoost {shown} is not supported: this binding was checked against {low[0]}.{low[1]} "
            f"up to (not including) {high[0]}.{high[1]}"
        )


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


def _free(handle: ctypes.c_void_p, proxy: ctypes.c_void_p) -> None:
    """Frees a booster's C resources; run by its finalizer, once, when it is collected."""
    library = _lib()
    if proxy:
        library.XGDMatrixFree(proxy)
    if handle:
        library.XGBoosterFree(handle)


class Booster:
    """One loaded XGBoost model, for one thread at a time.

    Not for concurrent calls: predictions share one proxy DMatrix and `set_threads` sets
    the model's own parameter, so a second thread would change what the first is using. A
    lock enforces it; an uncontended lock costs nothing next to a prediction. (XGBoost's
    output buffers are per thread, so they are not the reason.)
    """

    def __init__(self, model: bytes) -> None:
        lib = _lib()
        self._lock = threading.Lock()
        self._handle = ctypes.c_void_p()
        # One proxy for every prediction: given none, XGBoost builds one per call, and a
        # proxy's construction (its own context: device-string regex, cgroup CPU files)
        # costs about a third of predicting one row.
        self._proxy = ctypes.c_void_p()
        self._finalizer = weakref.finalize(self, _free, self._handle, self._proxy)
        _check(lib.XGBoosterCreate(None, 0, ctypes.byref(self._handle)))
        _check(lib.XGBoosterLoadModelFromBuffer(self._handle, model, len(model)))
        count = ctypes.c_uint64()
        _check(lib.XGBoosterGetNumFeature(self._handle, ctypes.byref(count)))
        self.num_features = int(count.value)
        self._threads: int | None = None
        _check(lib.XGProxyDMatrixCreate(ctypes.byref(self._proxy)))
        self.version = xgboost_version()

    def close(self) -> None:
        """Frees the C resources now rather than when collected."""
        self._finalizer()

    def config(self) -> dict[str, Any]:
        """The learner's configuration (objective, base score...), as XGBoost saves it."""
        length, text = ctypes.c_uint64(), ctypes.c_char_p()
        _check(_lib().XGBoosterSaveJsonConfig(self._handle, ctypes.byref(length), ctypes.byref(text)))
        config: dict[str, Any] = json.loads(ctypes.string_at(text, length.value))
        return config

    def set_threads(self, threads: int) -> None:
        """OpenMP threads per prediction; 0 is every core."""
        with self._lock:
            self._set_threads(threads)

    def _set_threads(self, threads: int) -> None:
        if threads != self._threads:
            _check(_lib().XGBoosterSetParam(self._handle, b"nthread", str(threads).encode()))
            self._threads = threads

    def predict(self, matrix: np.ndarray, threads: int | None = None) -> np.ndarray:
        """The model's output (a probability for binary:logistic) per row, as float32;
        `threads` sets the OpenMP threads of this and later calls (0: every core)."""
        matrix = self._checked(matrix)
        if not matrix.shape[0]:
            return np.empty(0, dtype=np.float32)
        with self._lock:
            if threads is not None:
                self._set_threads(threads)
            return self._predict(matrix)

    def _predict(self, matrix: np.ndarray) -> np.ndarray:
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
        with self._lock:
            return self._contributions(matrix)

    def _contributions(self, matrix: np.ndarray) -> np.ndarray:
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
