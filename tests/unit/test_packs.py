"""Packs: many commands, notices or replies in one record, placed where each would have gone alone."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
from aiokafka.partitioner import DefaultPartitioner, murmur2 as aiokafka_murmur2
from hypothesis import given, strategies as st

from schemas.commands import CommandEnvelope, decode_commands
from schemas.envelope import Tenant, UndecodableEvent
from schemas.job import CancelJob
from schemas.packs import murmur2, packed, partition_of, unpacked

PARTITIONS = 6


@dataclass(frozen=True)
class Message:
    key: bytes
    body: dict[str, object]

    def headers(self) -> list[tuple[str, bytes]]:
        return []

    def encoded(self) -> bytes:
        return orjson.dumps(self.body)


@given(st.binary(max_size=80))
def test_murmur2_is_kafkas(data: bytes) -> None:
    assert murmur2(data) == aiokafka_murmur2(data)


def test_keys_go_where_aiokafkas_default_partitioner_puts_them() -> None:
    partitions = list(range(PARTITIONS))
    for _ in range(500):
        key = str(uuid.uuid4()).encode()
        assert partition_of(key, PARTITIONS) == DefaultPartitioner()(key, partitions, partitions)


def test_a_pack_holds_one_partitions_messages_in_order_and_lands_where_they_would() -> None:
    messages = [Message(str(uuid.uuid4()).encode(), {"n": n}) for n in range(300)]
    messages += [Message(messages[0].key, {"n": 300})]  # a second message for the same key keeps its order
    packs = packed(messages, PARTITIONS)
    assert len(packs) == len({partition_of(m.key, PARTITIONS) for m in messages})
    seen = []
    for pack in packs:
        docs = unpacked(pack.encoded())
        assert dict(pack.headers())["pack"] == str(len(docs)).encode()
        members = [m for m in messages if m.body in docs]
        assert [m.body for m in members] == docs, "in the order written"
        assert {partition_of(m.key, PARTITIONS) for m in members} == {partition_of(pack.key, PARTITIONS)}
        seen.extend(docs)
    assert sorted(d["n"] for d in seen) == list(range(301))


def test_packs_close_at_the_byte_limit_and_a_large_message_travels_alone() -> None:
    key = b"same-key"
    small = [Message(key, {"pad": "x" * 100}) for _ in range(50)]
    large = Message(key, {"pad": "y" * 5_000})
    packs = packed([*small, large, *small], PARTITIONS, limit=1_000)
    assert all(len(p.encoded()) <= 1_000 for p in packs if len(p.items) > 1)
    assert any(p.items == (large.encoded(),) for p in packs)
    assert [d for p in packs for d in unpacked(p.encoded())] == [m.body for m in [*small, large, *small]]


def test_a_plain_record_is_a_pack_of_one() -> None:
    assert unpacked(orjson.dumps({"a": 1})) == [{"a": 1}]
    assert unpacked(b"[]") == []


def test_an_undecodable_command_in_a_pack_is_reported_in_its_place_and_the_others_decoded() -> None:
    tenant = Tenant(organization_id=uuid.uuid4(), project_id=uuid.uuid4())
    commands = [CommandEnvelope.of(CancelJob(job_id=uuid.uuid4()), tenant=tenant, issued_at=datetime.now(UTC))
                for _ in range(2)]
    record = b"[" + commands[0].encoded() + b',{"command_type":"NoSuchCommand"},' + commands[1].encoded() + b"]"
    first, bad, second = decode_commands(record)
    assert first == commands[0] and second == commands[1]
    assert isinstance(bad, UndecodableEvent)
    (garbage,) = decode_commands(b"\xff not json")
    assert isinstance(garbage, UndecodableEvent)


def test_one_partition_packs_everything_together_whatever_the_keys() -> None:
    messages = [Message(str(uuid.uuid4()).encode(), {"n": n}) for n in range(50)]
    (pack,) = packed(messages, 1)
    assert unpacked(pack.encoded()) == [m.body for m in messages] and pack.key == messages[0].key


def test_a_pack_keeps_the_messages_it_was_encoded_from_in_order() -> None:
    """A sender that hands the messages over after the append uses them as they are, without decoding."""
    messages = [Message(str(uuid.uuid4()).encode(), {"n": n, "pad": "x" * 200}) for n in range(60)]
    for pack in packed(messages, PARTITIONS, limit=1_000):
        assert [orjson.dumps(m.body) for m in pack.sources] == list(pack.items)
    assert sorted(m.body["n"] for pack in packed(messages, PARTITIONS, limit=1_000) for m in pack.sources) == list(range(60))
