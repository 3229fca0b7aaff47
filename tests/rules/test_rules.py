"""lambda_function/core/rules.py: each rule reads the same in every engine that applies it."""

from __future__ import annotations

import re
import sys

import msgspec
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from pydantic_core import SchemaValidator, ValidationError, core_schema

from lambda_function.core import rules

SAMPLES = [
    *rules.BLANK,
    rules.BLANK,
    "a",
    " a ",
    "\x1ca",
    "\u200b",  # zero-width space: not white space to Python
    "\ufeff",  # byte order mark: white space to ECMAScript's \\s, not to Python
    "\x00",
    "é🙂",
    "",
]


def test_blank_is_what_python_calls_white_space() -> None:
    assert set(rules.BLANK) == {chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()}
    assert all(rules.is_blank(c) for c in rules.BLANK) and rules.is_blank("")


def _verdicts_by_engine(pattern: str, samples: list[str]) -> dict[str, list[bool]]:
    """Whether each sample matches `pattern` (searched), as each engine here reads it."""
    rust = SchemaValidator(core_schema.str_schema(pattern=pattern))

    def by_rust(text: str) -> bool:
        try:
            rust.validate_python(text)
            return True
        except ValidationError:
            return False

    matched = pc.match_substring_regex(pa.array(samples), pattern).to_pylist()
    return {  # msgspec's patterns are Python's re
        "python": [re.search(pattern, text) is not None for text in samples],
        "rust (pydantic)": [by_rust(text) for text in samples],
        "re2 (pyarrow)": [bool(found) for found in matched],
    }


@pytest.mark.parametrize("pattern", [rules.NOT_BLANK_PATTERN, rules.STATEMENT_DATE_TEXT_PATTERN])
def test_the_patterns_read_alike_in_every_engine(pattern: str) -> None:
    dates = ["2018-03-13", " 2018-03-13\u3000", "\x1c2018-02-29\x1c", "2016-02-29T10:00Z", "2018-02-30", "2018-3-1"]
    samples = [*SAMPLES, *dates]
    verdicts = _verdicts_by_engine(pattern, samples)
    assert len({tuple(found) for found in verdicts.values()}) == 1, verdicts


def test_a_customer_id_is_not_blank_on_every_path() -> None:
    """The ID rule as /v1's schemas, V2 and the file reader apply it, against rules.is_blank."""
    from lambda_function.api.payload import FULL_STATEMENTS, customer_schema
    from lambda_function.api.v2 import V2Error
    from lambda_function.api.v2 import request as v2
    from lambda_function.files.checks import bad_ids as _bad_ids

    for text in SAMPLES:
        expected = bool(text) and not rules.is_blank(text) and len(text) <= rules.ID_MAX_LENGTH
        fast = FULL_STATEMENTS.decode(msgspec.json.encode({"customer_ID": text}), single=True)
        assert (fast is not None) == expected, repr(text)
        try:
            customer_schema(frozenset()).one.validate_python({"customer_ID": text})
            assert expected, repr(text)
        except ValidationError:
            assert not expected, repr(text)
        assert (not _bad_ids(pa.array([text]))[0]) == expected, repr(text)
        try:
            v2._customer_ids([text])
            accepted = True
        except V2Error:
            accepted = False
        assert accepted == expected, repr(text)
