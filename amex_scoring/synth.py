"""Synthetic statements in the AmEx layout, with a planted default signal.

190 columns in Kaggle order, 64-hex customer IDs, monthly `S_2` dates, float32 features
with realistic missing rates, the nine numerically coded categoricals as float codes,
`D_63`/`D_64` as text (`D_64` sometimes missing). A latent risk drives the original
model's 21 inputs and the label, so a model trained on it learns something real.
Deterministic per seed; written one row group per chunk of customers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from lambda_function.core.schema import CATEGORICAL, COLUMNS, CUSTOMER_ID, FEATURES, STATEMENT_DATE

CHUNK_CUSTOMERS = 20_000
# How a risk of +1 standard deviation moves each signal input (in its own units).
SIGNAL = {
    "P_2": -0.18,
    "D_48": 0.16,
    "D_55": 0.12,
    "B_9": 0.10,
    "D_58": 0.09,
    "D_75": 0.11,
    "B_7": 0.10,
    "B_23": 0.08,
    "B_16": 0.09,
    "D_44": 0.07,
    "B_3": 0.06,
}
# Code sets and how each categorical leans with risk (codes, base probabilities, tilt).
CODES: dict[str, tuple[list, list[float], float]] = {
    "B_30": ([0.0, 1.0, 2.0], [0.83, 0.14, 0.03], 0.5),
    "B_38": ([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], [0.22, 0.33, 0.16, 0.08, 0.08, 0.06, 0.07], 0.4),
    "D_114": ([0.0, 1.0], [0.38, 0.62], -0.3),
    "D_116": ([0.0, 1.0], [0.99, 0.01], 0.2),
    "D_117": ([-1.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [0.27, 0.04, 0.14, 0.21, 0.21, 0.09, 0.04], -0.2),
    "D_120": ([0.0, 1.0], [0.87, 0.13], 0.3),
    "D_126": ([-1.0, 0.0, 1.0], [0.05, 0.17, 0.78], -0.3),
    "D_66": ([0.0, 1.0], [0.01, 0.99], 0.0),
    "D_68": ([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [0.01, 0.03, 0.05, 0.11, 0.13, 0.23, 0.44], -0.3),
    "D_63": (["CO", "CR", "CL", "XZ", "XM", "XL"], [0.75, 0.17, 0.08, 0.003, 0.002, 0.001], 0.3),
    "D_64": (["O", "U", "R", "-1"], [0.53, 0.28, 0.15, 0.01], 0.3),
}
MISSING_RATE = {
    "D_66": 0.89,
    "D_64": 0.04,
    "D_116": 0.04,
    "D_117": 0.04,
    "D_120": 0.04,
    "D_114": 0.04,
    "D_68": 0.04,
    "B_30": 0.001,
    "B_38": 0.001,
    "D_126": 0.02,
    "D_63": 0.0,
}


def _column_profiles() -> dict[str, tuple[float, float, float]]:
    """Per numeric column (scale, missing rate, risk loading), fixed for every seed."""
    rng = np.random.default_rng(20231105)
    profiles = {}
    for name in FEATURES:
        if name in CATEGORICAL:
            continue
        roll = rng.random()
        missing = 0.0 if roll < 0.45 else 0.01 if roll < 0.7 else rng.choice([0.05, 0.2, 0.5, 0.75, 0.9])
        profiles[name] = (float(rng.choice([0.1, 0.5, 1.0, 3.0])), float(missing), float(rng.normal(0, 0.02)))
    for name in SIGNAL:
        scale, missing, _ = profiles[name]
        profiles[name] = (scale, min(missing, 0.05), SIGNAL[name])
    return profiles


PROFILES = _column_profiles()


def _chunk(rng: np.random.Generator, customers: int, max_statements: int) -> tuple[pa.Table, np.ndarray, list[str]]:
    hexes = rng.bytes(32 * customers).hex()
    ids = [hexes[i * 64 : (i + 1) * 64] for i in range(customers)]
    full = rng.random(customers) < 0.85
    counts = np.where(full, max_statements, rng.integers(1, max_statements + 1, customers))
    owner = np.repeat(np.arange(customers), counts)
    # Position of each statement counted back from the latest (0 = latest).
    back = np.concatenate([np.arange(n - 1, -1, -1) for n in counts])
    risk = rng.normal(size=customers)
    labels = (rng.random(customers) < 1 / (1 + np.exp(-(2.2 * risk - 1.4)))).astype(np.int8)

    last_day = np.datetime64("2018-03-01") + rng.integers(0, 31, customers).astype("timedelta64[D]")
    dates = last_day[owner] - (back * 30 + rng.integers(-3, 4, owner.size)).astype("timedelta64[D]")
    columns: dict[str, pa.Array] = {
        CUSTOMER_ID: pa.array(ids, pa.string()).take(pa.array(owner)),
        STATEMENT_DATE: pa.array(dates.astype(str), pa.string()),
    }
    rows = owner.size
    # Risk drifts a little over a customer's history; the latest statement carries it fully.
    row_risk = risk[owner] * (1 - 0.03 * back) + rng.normal(0, 0.25, rows)
    for name in FEATURES:
        if name in CATEGORICAL:
            codes, base, tilt = CODES[name]
            logits = np.log(np.asarray(base))[None, :] + tilt * row_risk[:, None] * np.linspace(-1, 1, len(codes))
            cumulative = np.cumsum(np.exp(logits), axis=1)
            choice = (rng.random(rows)[:, None] * cumulative[:, -1:] > cumulative).sum(axis=1)
            missing = rng.random(rows) < MISSING_RATE[name]
            if isinstance(codes[0], str):
                values = np.asarray(codes, dtype=object)[choice]
                values[missing] = None
                columns[name] = pa.array(values, pa.string())
            else:
                values = np.asarray(codes, dtype=np.float32)[choice]
                values[missing] = np.nan
                columns[name] = pa.array(values, pa.float32(), mask=np.isnan(values))
            continue
        scale, missing_rate, loading = PROFILES[name]
        values = 0.5 + loading * row_risk + rng.normal(0, 0.2, rows) + rng.normal(0, 0.05, customers)[owner]
        values = (values * scale).astype(np.float32)
        if missing_rate:
            values[rng.random(rows) < missing_rate] = np.nan
        columns[name] = pa.array(values, pa.float32(), mask=np.isnan(values))
    table = pa.table({name: columns[name] for name in COLUMNS})
    return table, labels, ids


def write_synthetic(
    out: str | Path,
    customers: int,
    *,
    statements: int = 13,
    seed: int = 0,
    labels_out: str | Path | None = None,
) -> tuple[int, int]:
    """Write `customers` customers (1 to `statements` rows each); returns (rows, customers)."""
    if customers < 1 or not 1 <= statements <= 13:
        raise ValueError("need at least one customer and 1 to 13 statements per customer")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    label_lines = ["customer_ID,target"]
    rows = 0
    writer: pq.ParquetWriter | None = None
    try:
        for index, start in enumerate(range(0, customers, CHUNK_CUSTOMERS)):
            rng = np.random.default_rng([seed, index])
            table, labels, ids = _chunk(rng, min(CHUNK_CUSTOMERS, customers - start), statements)
            if writer is None:
                writer = pq.ParquetWriter(partial, table.schema, compression="snappy")
            writer.write_table(table, row_group_size=table.num_rows)
            rows += table.num_rows
            if labels_out is not None:
                label_lines.extend(f"{cid},{label}" for cid, label in zip(ids, labels, strict=True))
        assert writer is not None
        writer.close()
        partial.replace(out)
    except BaseException:
        if writer is not None:
            writer.close()
        partial.unlink(missing_ok=True)
        raise
    if labels_out is not None:
        Path(labels_out).write_text("\n".join(label_lines) + "\n")
    return rows, customers
