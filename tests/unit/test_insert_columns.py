"""Times sent as ticks: exactly the numbers clickhouse-connect computes itself for the same columns."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from clickhouse_connect.datatypes.registry import get_from_name

from projections.insert_columns import columns_for_insert, ticks

TIMES = [
    datetime(2026, 11, 30, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2026, 6, 1, 8, 0, 0, 123456, tzinfo=UTC),
    datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=UTC),  # before the epoch: rounded down, not toward zero
    datetime(2026, 6, 1, 10, 0, 0, 1, tzinfo=timezone(timedelta(hours=2))),
    datetime(1970, 1, 1, tzinfo=UTC),
]


@pytest.mark.parametrize("type_name", ["DateTime64(6, 'UTC')", "DateTime64(3, 'UTC')", "DateTime64(9, 'UTC')",
                                       "DateTime64(0)"])
@pytest.mark.parametrize("at", TIMES)
def test_ticks_are_clickhouse_connects_own(type_name: str, at: datetime) -> None:
    column_type = get_from_name(type_name)
    assert ticks(at, column_type.prec) == column_type._datetime64_ticks(at)


def test_a_naive_time_is_taken_as_utc() -> None:
    at = datetime(2026, 6, 1, 8, 0, 0, 123456)
    assert ticks(at, 1_000_000) == ticks(at.replace(tzinfo=UTC), 1_000_000)


def test_rows_become_columns_with_only_the_time_columns_converted() -> None:
    types = [get_from_name(name) for name in ("UUID", "Nullable(DateTime64(6, 'UTC'))", "String",
                                              "DateTime64(3, 'UTC')")]
    ids = [uuid.uuid4(), uuid.uuid4(), uuid.uuid4()]
    at = TIMES[1]
    rows = [(ids[0], at, "a", at), (ids[1], None, "b", at), (ids[2], at + timedelta(seconds=1), "c", TIMES[0])]

    columns = columns_for_insert(rows, types)

    assert list(columns[0]) == ids and list(columns[2]) == ["a", "b", "c"]
    assert columns[1] == [types[1]._datetime64_ticks(at), None, types[1]._datetime64_ticks(at + timedelta(seconds=1))]
    assert columns[3] == [types[3]._datetime64_ticks(at), types[3]._datetime64_ticks(at),
                          types[3]._datetime64_ticks(TIMES[0])]


def test_rows_of_unequal_length_are_refused() -> None:
    with pytest.raises(ValueError):
        columns_for_insert([(1, 2), (3,)], [get_from_name("Int64"), get_from_name("Int64")])
