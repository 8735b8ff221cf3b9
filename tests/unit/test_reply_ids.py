"""The id a reply answers, read before it is decoded: an API process decodes only the replies it waits for."""

from __future__ import annotations

import uuid

import orjson

from producers.command_bus import _reply_id
from schemas.commands import CommandReply
from schemas.dispatch import LeaseRequestDone, LiveJobsCount


def test_a_command_reply_answers_its_command() -> None:
    command_id = uuid.uuid4()
    assert _reply_id(orjson.loads(CommandReply(command_id=command_id, accepted=True).encoded())) == command_id


def test_a_dispatcher_answer_answers_its_request() -> None:
    request_id = uuid.uuid4()
    done = LeaseRequestDone(request_id=request_id, offered=2)
    count = LiveJobsCount(request_id=request_id, pending=1, scheduled=0, processing=0)
    for reply in (done, count):
        assert _reply_id(orjson.loads(orjson.dumps(reply.model_dump()))) == request_id


def test_a_document_that_names_no_valid_id_answers_nothing() -> None:
    assert _reply_id({"kind": "command_reply"}) is None
    assert _reply_id({"command_id": "not-a-uuid"}) is None
    assert _reply_id({"command_id": 42}) is None
    assert _reply_id(["a", "list"]) is None
    assert _reply_id("a string") is None
