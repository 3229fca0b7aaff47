"""Writing predictions: the Parquet or Kaggle-CSV file of a scored statements file.

The whole file is built in memory, then written in one PUT (S3) or renamed into place
(a local file), so no reader ever sees half of it.
"""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from lambda_function.core.schema import CUSTOMER_ID
from lambda_function.core.scoring import Model
from lambda_function.files.file_scoring import ScoredFile
from lambda_function.files.storage import write_local_file


def prediction_table(scored: ScoredFile, model: Model, output_format: str) -> pa.Table:
    if output_format == "csv":  # the Kaggle submission format
        return scored.predictions.select([CUSTOMER_ID, "prediction"])
    version = pa.repeat(pa.scalar(model.version, pa.string()), scored.predictions.num_rows)
    return scored.predictions.append_column("model_version", version)


def encode_predictions(scored: ScoredFile, model: Model, output_format: str) -> bytes:
    """The whole output file in memory: written in one PUT, so never half-written."""
    table = prediction_table(scored, model, output_format)
    sink = io.BytesIO()
    if output_format == "csv":
        try:  # unquoted, as Kaggle's sample submission and pandas' to_csv write these IDs
            pacsv.write_csv(table, sink, pacsv.WriteOptions(quoting_style="none", quoting_header="none"))
        except pa.ArrowInvalid:  # an ID with a comma, a quote or a line break: quoted, as CSV requires
            sink = io.BytesIO()
            pacsv.write_csv(table, sink, pacsv.WriteOptions(quoting_style="needed", quoting_header="none"))
    else:
        # A dictionary only where values repeat: on unique IDs and scores it is wasted work
        # (a large share of the write) and a larger file.
        pq.write_table(table, sink, compression="zstd", use_dictionary=["model_version"])
    return sink.getvalue()


def write_predictions_file(scored: ScoredFile, model: Model, path: str | Path) -> None:
    """Write next to the target, then rename: a reader never sees a partial file."""
    path = Path(path)
    output_format = "csv" if path.suffix.lower() == ".csv" else "parquet"
    if not path.parent.is_dir():  # a mistyped folder is an error, not a new folder
        raise FileNotFoundError(f"output folder not found: {path.parent}")
    write_local_file(path, encode_predictions(scored, model, output_format))
