"""The response envelope of seed 000 §2.3/§2.4 and pagination."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, Field

T = TypeVar("T")


class Envelope(BaseModel, Generic[T]):
    success: Literal[True] = True
    data: T
    message: str | None = None
    timestamp: datetime
    request_id: str


class ErrorBody(BaseModel):
    code: str = Field(examples=["VALIDATION_001"])
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorEnvelope(BaseModel):
    success: Literal[False] = False
    error: ErrorBody
    timestamp: datetime
    request_id: str


class Pagination(BaseModel):
    page: int
    limit: int
    total: int
    pages: int

    @classmethod
    def of(cls, page: int, limit: int, total: int) -> Pagination:
        return cls(page=page, limit=limit, total=total, pages=(total + limit - 1) // limit)

    @classmethod
    def slice(cls, items: list[T], page: int, limit: int) -> tuple[list[T], Pagination]:
        """One page of a list held in memory, and its pagination."""
        return items[(page - 1) * limit: page * limit], cls.of(page, limit, len(items))


MAX_JSON_DEPTH = 32
"""The deepest nesting of free-form JSON (payloads, outputs, metadata): deeper is refused with 422."""
_INT_RANGE = (-(2**63), 2**64 - 1)


def _bounded(value: Any) -> Any:
    """Free-form JSON that the event log can encode: nesting within ``MAX_JSON_DEPTH``, integers within
    64 bits (orjson's range; a bigger one would fail at the append, after validation)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
        elif isinstance(item, int) and not isinstance(item, bool) and not _INT_RANGE[0] <= item <= _INT_RANGE[1]:
            raise ValueError("integers must fit in 64 bits; send bigger numbers as strings")
    return value


JsonObject = Annotated[dict[str, Any], AfterValidator(_bounded)]
JsonValue = Annotated[Any, AfterValidator(_bounded)]
