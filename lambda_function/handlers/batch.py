"""The S3 batch function (template.yaml: ScoreFileFunction): the model loads once per container, here."""

from __future__ import annotations

from lambda_function.batch.scorer import batch_handler
from lambda_function.core.scoring import load_for_handler

handler = batch_handler(load_for_handler())
