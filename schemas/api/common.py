"""The response envelope of seed 000 §2.3/§2.4 and pagination."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, Field

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
