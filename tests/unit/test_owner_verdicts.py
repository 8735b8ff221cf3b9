"""An owner's refusal, as the API answers it: each kind its typed error and its HTTP status and code."""

from __future__ import annotations

import uuid

import pytest

from api.errors import status_and_code
from api.writes import _refusal
from schemas.commands import CommandReply


@pytest.mark.parametrize(("refusal", "status", "code"), [
    ("not_found", 404, "RESOURCE_NOT_FOUND"),
    ("invalid", 422, "VALIDATION_001"),
    ("conflict", 409, "RESOURCE_CONFLICT"),
    ("internal", 500, "INTERNAL_ERROR"),  # the owner failed to decide (streams.job_owner.decide_or_refuse)
])
def test_each_refusal_kind_answers_its_status(refusal: str, status: int, code: str) -> None:
    reply = CommandReply.model_validate({"command_id": uuid.uuid4(), "accepted": False, "refusal": refusal,
                                         "message": "why"})
    error = _refusal(reply)
    assert error.message == "why"
    assert status_and_code(error) == (status, code)
