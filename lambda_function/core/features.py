"""One columnar feature pipeline: customer rows -> the booster's float32 matrix.

It reproduces, column for column, what the training recipe did with scikit-learn:
median `SimpleImputer` on the numeric inputs (the nine numerically coded categoricals
included), each categorical cast to its string form, `DictVectorizer` one-hot in the
vectorizer's column order, then an imported pipeline's scaling and column selection.
Input columns are numpy arrays, or `Categorical` codes for text columns; no per-row dicts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

REMEMBERED_SPELLINGS = 4096  # per input: bounds a warm container's memory whatever clients send
FLOAT32_MAX = float(np.finfo(np.float32).max)
VECTORISED_FROM = 64  # values: below this, numpy's fixed cost outweighs a per-value lookup
_PLAIN_NUMBERS = {float, int, type(None)}  # not bool, a subclass of int that `index` refuses


@dataclass(frozen=True)
class Categorical:
    """A categorical column as integer codes into a list of raw values; -1 is missing."""

    codes: np.ndarray
    values: Sequence[Any]

    def __len__(self) -> int:
        return len(self.codes)


# A file's column: numbers, or text as codes. A request's: the values as JSON brought them.
Column = np.ndarray | Categorical | Sequence[Any]


def _finite_float(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return isinstance(value, str) and not value.strip()


def _raw_values(column: Column | None, rows: np.ndarray) -> list[Any]:
    """The values a client sent in `rows`, for warnings."""
    if column is None:
        return [None] * len(rows)
    if isinstance(column, Categorical):
        return [None if code < 0 else column.values[code] for code in column.codes[rows].tolist()]
    if isinstance(column, np.ndarray):
        return list(column[rows].tolist())
    return [column[row] for row in rows.tolist()]


LOOKUP_TABLE_MAX = 1024  # the widest range of integer codes looked up by table


class Vocabulary:
    """The learnt categories of one input, matched however the value is spelt.

    `0`, `0.0`, `"0"` and `"0.0"` all find the learnt `"0.0"`; `"-1"` finds `"-1"` of a
    text column; a missing value becomes the category it had in training.
    """

    def __init__(self, categories: Sequence[str], missing: Any) -> None:
        self.categories = list(categories)
        self.missing = missing
        self._keys: dict[Any, int] = {}
        self._text: dict[str, int] = {}
        self._other: dict[tuple[type, Any], int] = {}
        for position, category in enumerate(self.categories):
            self._keys.setdefault(category, position)
            number = _finite_float(category)
            if number is not None:
                self._keys.setdefault(number, position)
        numbers = sorted((key, position) for key, position in self._keys.items() if isinstance(key, float))
        self._numbers = np.array([key for key, _ in numbers], dtype=np.float64)
        self._number_positions = np.array([position for _, position in numbers], dtype=np.int32)
        # Numeric codes that are small integers, as the AmEx layout's are: each value looked up
        # in a table indexed by value, several times faster than a search on long columns. The
        # last slot, -1, is every value outside the table.
        self._table: np.ndarray | None = None
        if self._numbers.size and (self._numbers == np.round(self._numbers)).all():
            span = int(self._numbers[-1] - self._numbers[0]) + 1
            if span <= LOOKUP_TABLE_MAX:
                self._table = np.full(span + 1, -1, dtype=np.int32)
                self._table[(self._numbers - self._numbers[0]).astype(np.intp)] = self._number_positions

    def index(self, value: Any) -> int:
        """Position of the value's category, or -1 for a category never seen in training."""
        if is_missing(value):
            if is_missing(self.missing):
                return -1
            value = self.missing
        if isinstance(value, str):
            text = value.strip()
            if text in self._keys:
                return self._keys[text]
            number = _finite_float(text)
            return self._keys.get(number, -1) if number is not None else -1
        if isinstance(value, bool):
            return -1
        if isinstance(value, (int, float, np.integer, np.floating)):
            try:
                return self._keys.get(float(value), -1)
            except OverflowError:  # an integer beyond any float (10**400): no learnt category
                return -1
        return -1

    def number_positions(self, values: np.ndarray) -> np.ndarray:
        """`index` of each number of a numeric column (a file's), vectorised."""
        values = np.asarray(values, dtype=np.float64)
        if self._table is not None:
            low, high = self._numbers[0], self._numbers[-1]
            # Whole numbers within the codes' range (NaN is neither), whose offset is then exact.
            inside = (values >= low) & (values <= high) & (values == np.floor(values))
            found = self._table[np.where(inside, values - low, self._table.size - 1).astype(np.intp)]
            positions: np.ndarray = np.where(np.isnan(values), np.int32(self.index(None)), found)
            return positions
        out = np.full(len(values), -1, dtype=np.int32)
        if self._numbers.size:
            slot = np.minimum(np.searchsorted(self._numbers, values), self._numbers.size - 1)
            found = self._numbers[slot] == values
            out[found] = self._number_positions[slot[found]]
        out[np.isnan(values)] = self.index(None)
        return out

    def positions(self, values: Sequence[Any] | np.ndarray) -> Sequence[int] | np.ndarray:
        """`index` of each value; each spelling is worked out once per container, as clients repeat them."""
        if len(values) >= VECTORISED_FROM and set(map(type, values)) <= _PLAIN_NUMBERS:
            # Floats, ints and nulls only, as JSON brings numeric codes: the file path's
            # vectorised lookup, well under the time of a lookup per value on long columns.
            try:
                return self.number_positions(np.array(values, dtype=np.float64))
            except OverflowError:  # an integer beyond any float: `index` says what it is
                pass
        # Text, the usual spelling, is looked up by value alone in one C-level pass; numbers
        # go by (type, value) so that 1, 1.0 and True stay apart until `index` decides.
        out: list[int | None] = (
            list(map(self._text.get, values)) if len(values) and values[0].__class__ is str else [None] * len(values)
        )
        if None in out:
            for row, value in enumerate(values):
                if out[row] is None:
                    out[row] = self._remember(value)
        return out  # type: ignore[return-value]

    def _remember(self, value: Any) -> int:
        text = value.__class__ is str
        memory: dict[Any, int] = self._text if text else self._other
        key = value if text else (value.__class__, value)
        position = memory.get(key)
        if position is None:
            position = self.index(value)
            if len(memory) < REMEMBERED_SPELLINGS and value == value:  # NaN never finds itself again
                memory[key] = position
        return position


@dataclass
class Encoded:
    matrix: np.ndarray  # float32, one row per customer, the booster's columns
    columns: list[int]  # indices into the pipeline's layout
    unseen: dict[str, tuple[np.ndarray, list[Any]]]
    nonfinite: dict[str, np.ndarray]
    # What each input became after imputation, one array row per input: numbers, and
    # category positions (-1 unseen). Kept as arrays; the per-name dicts are built on demand.
    numeric_values: tuple[list[str], np.ndarray]
    category_positions: tuple[list[str], np.ndarray]

    @cached_property
    def numeric(self) -> dict[str, np.ndarray]:
        return dict(zip(*self.numeric_values, strict=True))

    @cached_property
    def positions(self) -> dict[str, np.ndarray]:
        return dict(zip(*self.category_positions, strict=True))

    @cached_property
    def warnings(self) -> list[list[str]]:
        """Per row, the unseen categories it had; built once, not scanned again per row."""
        notes: list[list[str]] = [[] for _ in range(self.matrix.shape[0])]
        for name, (rows, values) in self.unseen.items():
            for row, value in zip(rows.tolist(), values, strict=True):
                if is_missing(value):  # a categorical training never saw missing: no category to impute
                    notes[row].append(f"{name}: missing, and never missing in training: encoded as all zeros")
                else:
                    notes[row].append(f"{name}: unseen category {value!r}, encoded as all zeros")
        return notes

    def rejected(self) -> np.ndarray | None:
        """Rows that cannot be scored (a non-finite number in an input); None when there are none."""
        if not self.nonfinite:
            return None
        bad = np.zeros(self.matrix.shape[0], dtype=bool)
        for mask in self.nonfinite.values():
            bad |= mask
        return bad


class FeaturePipeline:
    """Built from preprocessing.json; `encode` turns customer columns into the matrix."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        try:
            self.imputation: dict[str, float] = {
                name: float(entry["impute"]) for name, entry in spec["numeric"].items()
            }
            self.vocabularies: dict[str, Vocabulary] = {
                name: Vocabulary(entry["categories"], entry.get("missing"))
                for name, entry in spec["categorical"].items()
            }
            self.layout: list[tuple[str, str | None]] = [(feature, category) for feature, category in spec["columns"]]
            selected = spec.get("selected")
            self.selected: list[int] = list(range(len(self.layout))) if selected is None else [int(i) for i in selected]
            scaling = spec.get("scaling")
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"preprocessing spec is malformed: {error!r}") from None
        self.scale = self.offset = None
        self.clip: tuple[float, float] | None = None
        if scaling is not None:
            self.scale = np.asarray(scaling["scale"], dtype=np.float64)
            self.offset = np.asarray(scaling["offset"], dtype=np.float64)
            if scaling.get("clip") is not None:
                low, high = scaling["clip"]
                self.clip = (float(low), float(high))
            if self.scale.shape != (len(self.selected),) or self.offset.shape != self.scale.shape:
                raise ValueError("preprocessing spec: scaling must have one entry per selected column")
        self._fills = np.array(list(self.imputation.values()), dtype=np.float64)
        self._numeric_names = tuple(self.imputation)
        self._selected = tuple(self.selected)
        self._plans: dict[tuple[int, ...], tuple[np.ndarray, ...]] = {}
        self._category_position: dict[int, int] = {}
        for index, (feature, category) in enumerate(self.layout):
            if category is not None:
                vocabulary = self.vocabularies.get(feature)
                if vocabulary is None or category not in vocabulary.categories:
                    raise ValueError(f"preprocessing spec: column {feature}={category} has no vocabulary")
                self._category_position[index] = vocabulary.categories.index(category)
            elif feature not in self.imputation:
                raise ValueError(f"preprocessing spec: numeric column {feature} has no imputation value")

    @property
    def inputs(self) -> list[str]:
        return [*self.imputation, *self.vocabularies]

    @property
    def feature_names(self) -> list[str]:
        """Names of the booster's columns, `feature` or `feature=category`."""
        return [self.column_name(index) for index in self.selected]

    def column_name(self, index: int) -> str:
        feature, category = self.layout[index]
        return feature if category is None else f"{feature}={category}"

    def _plan(self, wanted: tuple[int, ...]) -> tuple[np.ndarray, ...]:
        """Where each output column comes from: a numeric input, or an input's category."""
        plan = self._plans.get(wanted)
        if plan is None:
            numeric_names, categorical_names = list(self.imputation), list(self.vocabularies)
            numeric = [
                (out, numeric_names.index(self.layout[i][0]))
                for out, i in enumerate(wanted)
                if self.layout[i][1] is None
            ]
            onehot = [
                (out, categorical_names.index(self.layout[i][0]), self._category_position[i])
                for out, i in enumerate(wanted)
                if self.layout[i][1] is not None
            ]
            plan = self._plans[wanted] = (
                np.array([o for o, _ in numeric], dtype=np.intp),
                np.array([s for _, s in numeric], dtype=np.intp),
                np.array([o for o, _, _ in onehot], dtype=np.intp),
                np.array([s for _, s, _ in onehot], dtype=np.intp),
                np.array([p for _, _, p in onehot], dtype=np.int32),
            )
        return plan

    def encode(self, columns: Mapping[str, Column], n_rows: int, *, vectorizer_only: bool = False) -> Encoded:
        """`vectorizer_only` stops after the one-hot step: DictVectorizer's full matrix."""
        names = self._numeric_names
        if all(name in columns for name in names):
            values = np.array([columns[name] for name in names], dtype=np.float64, ndmin=2)
        else:
            missing = np.full(n_rows, np.nan)
            values = np.array([columns.get(name, missing) for name in names], dtype=np.float64, ndmin=2)
        values = values.reshape(len(names), n_rows)
        nonfinite: dict[str, np.ndarray] = {}
        if not np.isfinite(values).all():  # one check for the usual case: every number present and finite
            np.copyto(values, self._fills[:, None], where=np.isnan(values))  # median imputation
            infinite = np.isinf(values)
            if infinite.any():
                nonfinite = {names[i]: infinite[i] for i in np.flatnonzero(infinite.any(axis=1))}

        rows: list[Any] = []
        sources: list[Column | None] = []
        for name, vocabulary in self.vocabularies.items():
            column = columns.get(name)
            if column is None:
                rows.append(np.full(n_rows, vocabulary.index(None), dtype=np.int32))
            elif isinstance(column, np.ndarray) and column.dtype.kind in "fiu":
                rows.append(vocabulary.number_positions(column))
            elif isinstance(column, Categorical):
                # Canonicalise each distinct value once; the last slot is the missing value.
                table = np.array([*map(vocabulary.index, column.values), vocabulary.index(None)], dtype=np.int32)
                rows.append(table[column.codes])
            else:  # plain values, as an HTTP request brings them
                rows.append(vocabulary.positions(column))
            sources.append(column)
        positions = np.array(rows, dtype=np.int32).reshape(len(rows), n_rows)
        unseen: dict[str, tuple[np.ndarray, list[Any]]] = {}
        if positions.size and positions.min() < 0:
            never_seen = positions < 0
            names_by_slot = list(self.vocabularies)
            for slot in np.flatnonzero(never_seen.any(axis=1)):
                seen_rows = np.flatnonzero(never_seen[slot])
                unseen[names_by_slot[slot]] = (seen_rows, _raw_values(sources[slot], seen_rows))

        wanted = tuple(range(len(self.layout))) if vectorizer_only else self._selected
        numeric_out, numeric_source, onehot_out, onehot_source, onehot_position = self._plan(wanted)
        matrix = np.empty((n_rows, len(wanted)), dtype=np.float64)
        matrix[:, numeric_out] = values[numeric_source].T
        matrix[:, onehot_out] = positions[onehot_source].T == onehot_position
        imputed = (list(names), values)
        categories = (list(self.vocabularies), positions)
        if vectorizer_only:
            return Encoded(matrix, list(wanted), unseen, nonfinite, imputed, categories)
        if self.scale is not None and self.offset is not None:
            # MinMaxScaler.transform's own arithmetic, so the result is bit-identical.
            matrix *= self.scale
            matrix += self.offset
            if self.clip is not None:
                np.clip(matrix, self.clip[0], self.clip[1], out=matrix)
        # The booster reads float32, where a number past its range (1e39) would be ±inf: trees
        # split that exactly as float32's largest value (checked), but XGBoost refuses inf when
        # explaining. So it is that value.
        np.clip(matrix, -FLOAT32_MAX, FLOAT32_MAX, out=matrix)
        return Encoded(matrix.astype(np.float32), list(wanted), unseen, nonfinite, imputed, categories)
