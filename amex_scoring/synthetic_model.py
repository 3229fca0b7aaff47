"""The synthetic demonstration model: one recipe with fixed seeds, written by `make model` into
`model/` and built by the test suite as its own fixture, so the tests never depend on what a user
has put in `model/`.

Training is reproducible bit for bit on one machine (the same booster, preprocessing and
reference for the same seeds; tests/tools/test_synthetic_model.py checks the booster's
checksum), which is what lets the tests pin exact probabilities to it.

    python -m amex_scoring.synthetic_model --out DIR
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

CUSTOMERS = 30_000
DATA_SEED = 1
TRAIN_SEED = 42
VERSION = "1.0.0-synthetic"
NOTE = (
    f"synthetic AmEx-layout data (amex-scoring synth --customers {CUSTOMERS} --seed {DATA_SEED}); "
    "not a real credit model"
)
COMMAND = (
    f"amex-scoring synth --customers {CUSTOMERS} --seed {DATA_SEED} --out data/train.parquet "
    "--labels data/train_labels.csv\n"
    f"amex-scoring train --data data/train.parquet --labels data/train_labels.csv --out model --seed {TRAIN_SEED} "
    f'--model-version {VERSION} --note "{NOTE}"'
)


def write_synthetic_model(out: str | Path, *, command: str = "make model") -> dict[str, Any]:
    """Synthesise the training data, train on it, write the model directory `out` (and its README)."""
    from .synth import write_synthetic
    from .train import train

    with tempfile.TemporaryDirectory() as folder:
        data, labels = Path(folder) / "train.parquet", Path(folder) / "train_labels.csv"
        write_synthetic(data, CUSTOMERS, seed=DATA_SEED, labels_out=labels)
        return train(
            data,
            labels,
            out,
            seed=TRAIN_SEED,
            version=VERSION,
            source_note=NOTE,
            command=command + "\n# = " + COMMAND.replace("\n", "\n#   "),
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="model directory to write")
    args = parser.parse_args(argv)
    manifest = write_synthetic_model(args.out)
    print(f"wrote {manifest['name']} {manifest['version']} to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
