"""Rows into the columns an insert sends, with times already in ClickHouse's ticks.

clickhouse-connect turns every ``datetime`` of a ``DateTime64`` column into its tick count
in Python, one method call per value, and pivots rows into columns one value at a time. In
the projector the same few times recur across a batch (an event's time is the row's
``updated_at``, ``started_at`` or ``completed_at``, its ``job_events`` and ``job_outcomes``
rows' ``occurred_at``, and the next batch's cancel row repeats it), and those two steps were
~8% of the API process's samples under load (docs/figures.md, runs 117-). Here the pivot is
one ``zip`` and each distinct time is converted once per insert; a column of integers is
what clickhouse-connect then writes as one array.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def columns_for_insert(rows: Sequence[Sequence[Any]], column_types: Sequence[Any]) -> list[Sequence[Any]]:
    """The rows as columns; the values of ``DateTime64`` columns (nullable or not) as ticks of their scale.

    ``column_types`` are clickhouse-connect's type objects of the insert's columns, in order.
    """
    columns: list[Sequence[Any]] = list(zip(*rows, strict=True))
    memo: dict[tuple[datetime, int], int] = {}
    for index, column_type in enumerate(column_types):
        if getattr(column_type, "base_type", None) == "DateTime64":
            columns[index] = _ticks(columns[index], column_type.prec, memo)
    return columns


def ticks(at: datetime, per_second: int) -> int:
    """``at`` in units of ``1/per_second`` s since the epoch, rounded down, as clickhouse-connect computes them.
    A naive time is taken as UTC, the only zone the read models hold."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    micros = (at - _EPOCH) // _MICROSECOND
    return micros * (per_second // 1_000_000) if per_second >= 1_000_000 else micros // (1_000_000 // per_second)


def _ticks(column: Sequence[Any], per_second: int, memo: dict[tuple[datetime, int], int]) -> list[Any]:
    out: list[Any] = []
    append = out.append
    for value in column:
        if value is None:
            append(None)
            continue
        key = (value, per_second)
        found = memo.get(key)
        if found is None:
            found = memo[key] = ticks(value, per_second)
        append(found)
    return out
