"""Settings: every variable read as documented, every default in settings.py alone."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from helpers import ROOT

from lambda_function.settings import DEFAULT_MODEL_URI, Settings


def test_each_variable_is_read_into_its_field() -> None:
    environ = {
        "MODEL_URI": "s3://models/v2/",
        "MODEL_CACHE_DIR": "/tmp/cache",
        "DECISION_THRESHOLD": "0.3",
        "MAX_BATCH": "50",
        "MAX_BODY_BYTES": "1000",
        "INPUT_PREFIX": "in",
        "OUTPUT_PREFIX": "out/",
        "ERROR_PREFIX": " err ",
        "OUTPUT_BUCKET": "results",
        "OUTPUT_FORMAT": "CSV",
        "MIN_REMAINING_MS": "5000",
    }
    assert Settings.from_env(environ) == Settings(
        model_uri="s3://models/v2/",
        model_cache_dir="/tmp/cache",
        decision_threshold=0.3,
        max_batch=50,
        max_body_bytes=1000,
        input_prefix="in/",
        output_prefix="out/",
        error_prefix="err/",
        output_bucket="results",
        output_format="csv",
        min_remaining_ms=5000,
    )


def test_unset_or_blank_variables_keep_the_defaults() -> None:
    assert Settings.from_env({}) == Settings.from_env({"MAX_BATCH": "  ", "OUTPUT_FORMAT": ""}) == Settings()
    assert Settings().model_uri == DEFAULT_MODEL_URI and Settings().max_body_bytes == 6_000_000


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("MAX_BATCH", "ten", "MAX_BATCH must be an integer, got 'ten'"),
        ("MAX_BATCH", "-1", "MAX_BATCH must not be negative"),
        ("MAX_BATCH", "0", "MAX_BATCH must be at least 1, got '0'"),  # rules.py: limits
        ("SHARD_ROWS", "0", "SHARD_ROWS must be at least 1"),
        ("MAX_CONCURRENCY", "0", "MAX_CONCURRENCY must be at least 1"),
        ("DECISION_THRESHOLD", "1.5", "DECISION_THRESHOLD must be from 0 to 1"),
        ("OUTPUT_FORMAT", "json", "OUTPUT_FORMAT must be 'parquet' or 'csv'"),
        ("OUTPUT_PREFIX", "p" * 600, "OUTPUT_PREFIX must be at most 512 bytes"),
        ("TOLERATED_FAILURE_PERCENTAGE", "150", "TOLERATED_FAILURE_PERCENTAGE must be from 0 to 100, got '150'"),
        ("TOLERATED_FAILURE_PERCENTAGE", "some", "TOLERATED_FAILURE_PERCENTAGE must be a number, got 'some'"),
        ("SHARD_ROWS", "2M", "SHARD_ROWS must be an integer, got '2M'"),
    ],
)
def test_a_bad_value_names_its_variable(variable: str, value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Settings.from_env({variable: value})


def _variables(resource: dict[str, Any]) -> dict[str, Any]:
    return dict(resource.get("Properties", {}).get("Environment", {}).get("Variables", {}))


def test_the_template_sets_no_setting_to_another_value_than_its_default() -> None:
    """A value in template.yaml is either a parameter the user chooses (whose default is the
    code's default) or left out: the code's defaults are the only ones."""
    from cfnlint.decode import cfn_yaml

    template = cfn_yaml.load(str(ROOT / "template.yaml"))
    defaults = {field.name.upper(): field.default for field in dataclasses.fields(Settings)}
    parameters = template["Parameters"]
    found = _variables(template["Globals"]["Function"])
    for resource in template["Resources"].values():
        found.update(_variables(resource))
    checked = 0
    for variable, value in found.items():
        if variable not in defaults or isinstance(value, dict) and ("Fn::If" in value or "Fn::Sub" in value):
            continue  # not a setting, set only when the user chose a value, or naming another resource
        if isinstance(value, dict) and "Ref" in value:
            value = parameters[value["Ref"]]["Default"]
        assert Settings.from_env({variable: str(value)}) == Settings(), (variable, value)
        checked += 1
    assert checked >= 4  # the prefixes and the output format, at least


def test_no_function_starts_with_a_setting_or_model_that_would_fail_every_request(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """The one start-up policy (`load_for_handler`): the reason in one line, logged once; in
    Lambda an init error (tests/platform/test_lambda_runtime.py), for serve and invoke an exit."""
    from lambda_function.core.scoring import StartupError, load_for_handler

    for variable, value, reason in [
        ("MAX_BATCH", "many", "bad configuration: environment variable MAX_BATCH must be an integer, got 'many'"),
        ("MAX_BATCH", "0", "bad configuration: environment variable MAX_BATCH must be at least 1, got '0'"),
        ("DECISION_THRESHOLD", "abc", "bad configuration: environment variable DECISION_THRESHOLD must be a number"),
        ("MODEL_URI", str(tmp_path / "none"), f"model failed to load from {tmp_path / 'none'}: model directory not"),
    ]:
        with monkeypatch.context() as patched:
            patched.setenv(variable, value)
            with pytest.raises(StartupError) as raised:
                load_for_handler()
        assert str(raised.value).startswith(reason), str(raised.value)
        assert str(raised.value).split(": ", 1)[1][:30] in capsys.readouterr().out  # the log says why
    loaded = load_for_handler()
    assert loaded.model.version == "1.0.0-synthetic"
