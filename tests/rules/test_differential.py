"""One customer, one answer, on every path (lambda_function/core/rules.py is the one home of the rules).
The answer includes what the path's capture record says of the inputs (imputed, unseen).

Generated customers, edge cases included, go through every path a customer can take
(tests/paths.py: /v1 object and batch, V2 JSON and binary, CSV, Parquet in four column typings,
a dataset job). On the paths that can carry a customer as it is, it must be scored with the very
same probability everywhere, or refused everywhere, each refusal naming a field the edge case
touched.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from helpers import SYNTHETIC_MODEL
from paths import PATHS, Refused, Scored, Statement, Target, expressible

from lambda_function.core.schema import COLUMNS, CUSTOMER_ID, STATEMENT_DATE

# Values that probe a rule (rules.py), by field: valid ones, and ones every path must refuse.
EDGES: dict[str, list[Any]] = {
    CUSTOMER_ID: [" c1 ", "\x1c\x1d", "\t", "", "x" * 256, "x" * 257, "é" * 256, "é" * 257, "NA", "null",
                  "a\x00b", "é🙂", 12345],
    STATEMENT_DATE: [" 2018-03-13 ", "", "  ", None, "2018-03-13T10:00:00Z", "2018-03-13 23:59:59+02:00",
                     "2018-02-30", "20180313", "2018-3-1", 20180313],
    "D_63": ["NA", "nan", "null", "N/A", "", " ", None, "CO", " CO ", "C" * 64, "C" * 65, 5, "XYZ", True],
    "D_64": ["NA", "None", "", None, "O", "-1", -1],
    "B_30": [0, 1, 2.0, "0", "0.0", " 1 ", "nan", "NA", None, True, False, 1.5, 10**30],
    "D_48": [None, 5, -0.0, 0.5, 1e308, -1e308, 10**30, "lots", True, "0.5"],
    "D_75": [None, 0.0, 1e-300, 3.4e38],
    "P_2": ["lots", True, None, 1.0],  # read by no model here: taken as it comes
    "X_1": [5, "x", None],  # outside the layout
}  # fmt: skip


def _base(count: int, seed: int) -> list[Statement]:
    from bench.tricks_worker import population

    rows = population(count)
    rng = random.Random(seed)
    date = lambda: f"2018-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"  # noqa: E731
    # Every field of the layout, None where missing: a file always has each column (a file
    # without a column the model reads is refused whole, where a JSON customer may leave it out).
    return [{**{name: row.get(name) for name in COLUMNS}, STATEMENT_DATE: date()} for row in rows]


def generated_customers(count: int, seed: int) -> list[tuple[list[Statement], set[str]]]:
    """(statements, fields an edge case touched): 1 to 3 statements of one customer, each with
    0 to 2 edge values; dates repeated, missing or out of order now and then."""
    rng = random.Random(seed)
    base = _base(count * 3, seed)
    customers = []
    for index in range(count):
        statements, touched = [], set()
        customer_id = f"customer-{seed}-{index}"
        for number in range(rng.choice([1, 1, 2, 3])):
            statement = {**base[index * 3 + number], CUSTOMER_ID: customer_id}
            for _ in range(rng.choice([0, 1, 1, 2])):
                field = rng.choice(sorted(EDGES))
                statement[field] = rng.choice(EDGES[field])
                touched.add(field)
            statements.append(statement)
        if len(statements) > 1 and rng.random() < 0.3:  # the same month twice: the later row counts
            statements[-1][STATEMENT_DATE] = statements[0][STATEMENT_DATE]
        if CUSTOMER_ID in touched:  # an ID is a customer's, in every statement
            statements = [{**s, CUSTOMER_ID: statements[-1][CUSTOMER_ID]} for s in statements]
        customers.append((statements, touched))
    return customers


CUSTOMERS = generated_customers(150, seed=28)


@pytest.fixture(scope="module", params=["committed", "legacy"])
def target(request: pytest.FixtureRequest) -> Target:
    """The committed model, and the user's own (its pickles imported) where they are."""
    if request.param == "committed":
        return Target.of(str(SYNTHETIC_MODEL))
    return Target.of(str(request.getfixturevalue("legacy_model_dir")))


@pytest.mark.parametrize(("statements", "touched"), CUSTOMERS, ids=[f"c{i}" for i in range(len(CUSTOMERS))])
def test_a_customer_gets_one_answer_on_every_path(
    target: Target, statements: list[Statement], touched: set[str]
) -> None:
    outcomes = {name: PATHS[name](statements, target) for name in sorted(expressible(statements))}
    kinds = {type(outcome) for outcome in outcomes.values()}
    assert len(kinds) == 1, _describe(outcomes)
    if kinds == {Scored}:
        assert len({outcome.probability for outcome in outcomes.values()}) == 1, _describe(outcomes)  # type: ignore[union-attr]
        # what every path's capture record says was imputed and unseen: one rule of what is missing
        assert len(set(outcomes.values())) == 1, _describe(outcomes)
        return
    for name, outcome in outcomes.items():
        assert isinstance(outcome, Refused)
        assert any(field in outcome.message for field in touched), f"{name}: {outcome.message}"


def _describe(outcomes: dict[str, Any]) -> str:
    return "\n".join(f"{name}: {outcome}"[:300] for name, outcome in outcomes.items())


def test_the_edges_cover_every_rule() -> None:
    """Each edge value reaches a path at least once in the generated customers, valid and not."""
    seen = {(field, repr(s.get(field))) for statements, _ in CUSTOMERS for s in statements for field in EDGES}
    missing = [
        (field, value) for field, values in EDGES.items() for value in values if (field, repr(value)) not in seen
    ]
    assert len(missing) <= len(EDGES), missing  # a few may not be drawn; the rest are
