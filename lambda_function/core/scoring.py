"""The model object every entry point scores with: HTTP, S3 batch and the CLI."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from lambda_function.core.artifacts import ArtifactError, ModelArtifacts, load_artifacts, resolve_model_uri
from lambda_function.core.booster import Booster, BoosterError
from lambda_function.core.drift import NO_REFERENCE_MESSAGE, UNMONITORED_METRIC
from lambda_function.core.features import Column, Encoded, FeaturePipeline
from lambda_function.settings import Settings
from lambda_function.telemetry import MetricUnit, logger, metrics

SMALL_BATCH = 128
PROBABILITY_OBJECTIVES = ("binary:logistic", "reg:logistic")


@dataclass
class Scores:
    probability: np.ndarray  # float64; NaN where the row was rejected
    default: np.ndarray  # bool, probability >= threshold
    encoded: Encoded


class Model:
    """An XGBoost booster with its preprocessing, loaded from a verified model directory."""

    def __init__(self, uri: str, *, cache_dir: str = "/tmp/model-cache", threshold: float | None = None) -> None:
        self.uri = uri
        self.cache_dir = cache_dir
        self._threshold_override = threshold
        self.artifacts: ModelArtifacts | None = None

    def load(self) -> Model:
        artifacts = load_artifacts(resolve_model_uri(self.uri, self.cache_dir))
        try:
            pipeline = FeaturePipeline(artifacts.preprocessing)
        except ValueError as error:
            raise ArtifactError(f"{artifacts.directory / 'preprocessing.json'}: {error}") from None
        try:
            booster = Booster(artifacts.booster_bytes)
        except BoosterError as error:
            raise ArtifactError(f"cannot load booster {artifacts.booster_path}: {error}") from None
        objective = booster.config()["learner"]["objective"]["name"]
        if objective not in PROBABILITY_OBJECTIVES:
            raise ArtifactError(
                f"{artifacts.booster_path}: objective {objective!r} does not output a probability "
                f"(expected one of {', '.join(PROBABILITY_OBJECTIVES)})"
            )
        if booster.num_features != len(pipeline.selected):
            raise ArtifactError(
                f"{artifacts.booster_path} expects {booster.num_features} features but "
                f"preprocessing.json produces {len(pipeline.selected)}"
            )
        self.artifacts, self.pipeline, self.booster = artifacts, pipeline, booster
        return self

    @property
    def manifest(self) -> dict[str, Any]:
        assert self.artifacts is not None, "call load() first"
        return self.artifacts.manifest

    @property
    def name(self) -> str:
        return str(self.manifest.get("name", "model"))

    @property
    def version(self) -> str:
        return str(self.manifest.get("version", "0"))

    @property
    def checksum(self) -> str:
        assert self.artifacts is not None, "call load() first"
        return self.artifacts.checksum

    @property
    def threshold(self) -> float:
        if self._threshold_override is not None:
            return self._threshold_override
        return float(self.manifest.get("threshold", 0.5))

    @property
    def xgboost_version(self) -> str:
        """The XGBoost library the booster runs on, checked against the supported range at load."""
        return ".".join(map(str, self.booster.version))

    @property
    def inputs(self) -> list[str]:
        return self.pipeline.inputs

    def predict(self, columns: Mapping[str, Column], n_rows: int) -> Scores:
        """Score one row per customer; `columns` maps input names to equal-length columns."""
        encoded = self.pipeline.encode(columns, n_rows)
        rejected = encoded.rejected()
        matrix = encoded.matrix
        if rejected is not None:
            matrix = matrix.copy()
            matrix[rejected] = 0.0  # scored, then discarded below
        # Waking a thread pool costs more than predicting a few rows on one core.
        probability = self.booster.predict(matrix, threads=1 if n_rows <= SMALL_BATCH else 0).astype(np.float64)
        if rejected is not None:
            probability[rejected] = np.nan
        return Scores(probability, probability >= self.threshold, encoded)

    def explain(self, encoded: Encoded, top: int) -> list[list[dict[str, Any]]]:
        """Per row, the `top` inputs that moved the log-odds most (one-hots folded back)."""
        contributions = self.booster.contributions(encoded.matrix)[:, :-1]
        features = sorted({self.pipeline.layout[index][0] for index in encoded.columns})
        folding = np.zeros((len(encoded.columns), len(features)))
        for out, index in enumerate(encoded.columns):
            folding[out, features.index(self.pipeline.layout[index][0])] = 1.0
        per_feature = contributions.astype(np.float64) @ folding
        reasons = []
        for row in range(per_feature.shape[0]):
            order = np.argsort(-np.abs(per_feature[row]), kind="stable")[:top]
            reasons.append(
                [
                    {
                        "feature": features[k],
                        "value": self.input_value(encoded, features[k], row),
                        "contribution": round(float(per_feature[row, k]), 6),
                    }
                    for k in order
                ]
            )
        return reasons

    def input_value(self, encoded: Encoded, feature: str, row: int) -> Any:
        """The value the model used for an input: imputed number or learnt category."""
        if feature in encoded.numeric:
            return float(encoded.numeric[feature][row])
        position = int(encoded.positions[feature][row])
        return self.pipeline.vocabularies[feature].categories[position] if position >= 0 else None


class StartupError(Exception):
    """A setting or a model that would make every invocation fail: the function does not start."""


@dataclass(frozen=True)
class Loaded:
    """What a handler starts with: its settings and its loaded model."""

    settings: Settings
    model: Model


def load_for_handler() -> Loaded:
    """The one start-up policy of every function, `serve` and `invoke`: a bad setting or a model
    that will not load stops the start with its one-line reason, logged once. In Lambda that is
    an init error (the runtime reports it, and the next invocation starts a fresh environment),
    never a function that answers 503 to everything."""
    try:
        settings = Settings.from_env()
    except ValueError as error:
        logger.error("bad configuration", extra={"reason": str(error)})
        raise StartupError(f"bad configuration: {error}") from None
    try:
        model = Model(settings.model_uri, cache_dir=settings.model_cache_dir, threshold=settings.decision_threshold)
        model.load()
    except Exception as error:
        logger.error("model failed to load", extra={"model_uri": settings.model_uri, "reason": str(error)})
        raise StartupError(f"model failed to load from {settings.model_uri}: {error}") from None
    logger.info("model loaded", extra={"model": model.name, "version": model.version, "checksum": model.checksum})
    if model.artifacts is not None and model.artifacts.reference is None:
        logger.warning(NO_REFERENCE_MESSAGE)
        metrics.add_metric(name=UNMONITORED_METRIC, unit=MetricUnit.Count, value=1)  # sent with the first invocation
    return Loaded(settings, model)
