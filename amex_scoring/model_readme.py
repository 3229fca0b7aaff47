"""`README.md` of a model directory, written by the command that writes the model (`train`,
`import-legacy`, `reference`, `make model`) from what the directory holds, so it always describes
the model beside it. It is documentation only: not in the manifest, never read by the runtime.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lambda_function.core.artifacts import ModelArtifacts, load_artifacts
from lambda_function.core.drift import NO_REFERENCE, UNMONITORED_METRIC

README = "README.md"
METRICS = ("auc", "gini", "amex_metric", "top4_capture", "default_rate")


def write_model_readme(directory: str | Path) -> Path:
    """Describe the (verified) model directory in its README.md."""
    artifacts = load_artifacts(directory)
    path = Path(directory) / README
    path.write_text(model_readme(artifacts))
    return path


def model_readme(artifacts: ModelArtifacts) -> str:
    manifest = artifacts.manifest
    detail = manifest.get("source_detail", {})
    sections = [
        f"# {manifest['name']} {manifest['version']}\n\n{_what(manifest)}\n\n"
        "This file is written with the model by the command below; it is rewritten, not edited.",
        "## How it was made\n\n```sh\n" + (detail.get("command") or "(not recorded)") + "\n```" + _origin(manifest),
        "## Metrics\n\n" + _metrics(manifest.get("metrics") or {}),
        "## Drift reference\n\n" + _reference(artifacts),
        "## Golden customers\n\n" + _golden(artifacts),
        "## Files\n\n" + FILES,
        "## Replacing it\n\n" + REPLACING,
    ]
    return "\n\n".join(sections) + "\n"


def _what(manifest: dict[str, Any]) -> str:
    inputs = manifest.get("inputs", {})
    count = len(inputs.get("numeric", [])) + len(inputs.get("categorical", {}))
    made = {"trained": "trained by `amex-scoring train`", "imported": "imported from pickles by `import-legacy`"}
    source = made.get(manifest.get("source", ""), f"source {manifest.get('source')!r}")
    note = manifest.get("source_detail", {}).get("note")
    return (
        f"Model `{manifest['name']}` (the name V2 paths use), version `{manifest['version']}`, {source} "
        f"on {manifest.get('created', 'an unrecorded date')}: {count} inputs, decision threshold "
        f"{manifest.get('threshold', 0.5)}." + (f" Note: {note}" if note else "")
    )


def _origin(manifest: dict[str, Any]) -> str:
    detail = manifest.get("source_detail", {})
    if manifest.get("source") == "imported":
        parity = manifest.get("parity", {})
        return (
            f"\n\nFrom `{detail.get('vectorizer')}`, `{detail.get('imputer')}` and `{detail.get('model')}` "
            f"({' -> '.join(detail.get('steps', []))}); scored like the pickles on {parity.get('customers')} "
            f"generated customers, max |difference| {parity.get('max_abs_difference', float('nan')):.3g}."
        )
    if manifest.get("source") == "trained":
        params = ", ".join(f"{k} {v}" for k, v in detail.get("params", {}).items())
        return f"\n\nFrom `{detail.get('data')}` and `{detail.get('labels')}`, seed {detail.get('seed')}; {params}."
    return ""


def _metrics(metrics: dict[str, Any]) -> str:
    shown = [name for name in METRICS if name in metrics]
    if not shown:
        return "None recorded: an imported model carries no held-out metrics."
    header = "| " + " | ".join(shown) + " |\n|" + "---|" * len(shown) + "\n"
    return header + "| " + " | ".join(f"{metrics[name]:.4f}" for name in shown) + " |"


def _reference(artifacts: ModelArtifacts) -> str:
    if artifacts.reference is None:
        return (
            f"**None.** Drift is not measured for this model: batch and dataset summaries say "
            f'`"drift": {{"status": "{NO_REFERENCE}"}}`, `GET /v1/model` says so, and the functions emit '
            f"`{UNMONITORED_METRIC}`, which an alarm watches. Add one from a statements file that stands "
            "for the training population (e.g. the training sample):\n\n"
            "```sh\namex-scoring reference --model DIR --data train_sample.parquet\n```"
        )
    described = artifacts.manifest.get("reference", {})
    source = f" of `{described['data']}`" if "data" in described else ""
    return (
        f"`reference.json`: the score's deciles and the distribution of each of the "
        f"{len(artifacts.reference['inputs'])} inputs over {artifacts.reference.get('customers')} customers{source}. "
        "Every batch and dataset summary reports the population stability index of the score and of each input "
        "against it (drift flagged above 0.25), and the `MaxPSI` and `ScorePSI` metrics."
    )


def _golden(artifacts: ModelArtifacts) -> str:
    if artifacts.golden is None:
        return "None: `verify-model` and the pre-traffic hook have nothing to check."
    return (
        f"`golden.json`: {len(artifacts.golden['customers'])} customers and the probabilities this model must "
        f"give them ({artifacts.golden.get('source')}). `amex-scoring verify-model DIR` checks them; so does the "
        "pre-traffic hook before a deployment takes traffic."
    )


FILES = """| file | contents |
|---|---|
| `manifest.json` | format version, name, version, creation time, source, input schema (categorical\
  vocabularies in one-hot order), threshold, metrics, and the SHA-256 of every other file |
| `preprocessing.json` | imputation values, the one-hot column layout, imported scaling and column selection |
| `model.ubj` | the booster, in XGBoost's own UBJSON format |
| `reference.json` | optional: the training population's score deciles and per-input distributions, for drift (PSI) |
| `golden.json` | optional: reference customers and the probabilities the model must give them |

Nothing here is executable: the runtime never unpickles. Every file is checked against its
checksum on load; a changed byte stops the model from loading, naming the file."""

REPLACING = """- Train: `amex-scoring train --data train_data.parquet --labels train_labels.csv --out model`.
- Bring a pickled model: `amex-scoring import-legacy --vectorizer dict_vectorizer.pkl --imputer imputer.pkl
  --model model.bin --reference-data train_sample.parquet --out model` (it checks that the converted
  model scores exactly like the pickles before it writes anything).

Then rebuild the image (`sam build`), or upload the directory to S3 and set `ModelUri`."""
