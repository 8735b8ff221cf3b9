"""The event envelope and its wire encoding.

Every record on every TaskForge topic is one ``EventEnvelope`` encoded with orjson.
The Kafka key is the aggregate id; the headers repeat the type, version, event id and
correlation id so that a consumer can route or skip a record without decoding it.
"""

from __future__ import annotations

import importlib
import logging
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, ClassVar

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, SerializeAsAny, ValidationError

from schemas.encoding import model_json

log = logging.getLogger(__name__)


class DomainEvent(BaseModel):
    """Base of every event payload. Subclasses set ``event_type`` and ``schema_version``.

    A subclass whose shape changes bumps ``schema_version`` and registers an upgrade
    from the previous version with ``register_upgrade``, so that old records stay
    readable forever.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: ClassVar[str]
    schema_version: ClassVar[int] = 1


class Tenant(BaseModel):
    """Who owns an aggregate. Always taken from the caller's principal."""

    model_config = ConfigDict(frozen=True)

    organization_id: uuid.UUID
    project_id: uuid.UUID


class EventEnvelope(BaseModel):
    """One immutable fact, with where it came from and whom it belongs to."""

    model_config = ConfigDict(frozen=True)

    event_id: uuid.UUID
    event_type: str
    schema_version: int
    occurred_at: AwareDatetime
    organization_id: uuid.UUID
    project_id: uuid.UUID
    aggregate_id: uuid.UUID
    sequence: int | None = None
    """The aggregate's version after this event (1 for its first), where its owner numbers them.
    A redelivered decision repeats events with the same ids and sequences; consumers apply an
    event only when its sequence is newer than what they hold."""
    correlation_id: str | None = None
    causation_id: uuid.UUID | None = None
    actor: str | None = None
    data: SerializeAsAny[DomainEvent]

    def encoded(self) -> bytes:
        return encode(self)

    @property
    def tenant(self) -> Tenant:
        return Tenant(organization_id=self.organization_id, project_id=self.project_id)

    @property
    def key(self) -> bytes:
        return str(self.aggregate_id).encode()

    def headers(self) -> list[tuple[str, bytes]]:
        headers = [
            ("event_type", self.event_type.encode()),
            ("schema_version", str(self.schema_version).encode()),
            ("event_id", str(self.event_id).encode()),
        ]
        if self.correlation_id:
            headers.append(("correlation_id", self.correlation_id.encode()))
        return headers


def wrap(
    event: DomainEvent,
    *,
    tenant: Tenant,
    aggregate_id: uuid.UUID,
    occurred_at: datetime,
    event_id: uuid.UUID,
    correlation_id: str | None = None,
    causation_id: uuid.UUID | None = None,
    actor: str | None = None,
    sequence: int | None = None,
) -> EventEnvelope:
    """Put an event in its envelope. Ids and time are arguments: callers own the clock."""
    return EventEnvelope(
        event_id=event_id,
        event_type=event.event_type,
        schema_version=event.schema_version,
        occurred_at=occurred_at,
        organization_id=tenant.organization_id,
        project_id=tenant.project_id,
        aggregate_id=aggregate_id,
        sequence=sequence,
        correlation_id=correlation_id,
        causation_id=causation_id,
        actor=actor,
        data=event,
    )


def encode(envelope: EventEnvelope) -> bytes:
    return model_json(envelope)


class UndecodableEvent(Exception):
    """A record that is not a valid envelope of a known event (a poison record)."""


class UnknownEvent(BaseModel):
    """A record of a type or version this build does not know: kept in the log, skipped here."""

    model_config = ConfigDict(frozen=True)

    event_type: str
    schema_version: int
    event_id: str | None = None


Upgrade = Callable[[dict[str, Any]], dict[str, Any]]
_EVENT_TYPES: dict[str, type[DomainEvent]] = {}
#: The modules whose event classes ``decode`` must know; imported on first use.
EVENT_MODULES = ("schemas.job", "schemas.queue", "schemas.worker", "schemas.identity")
_loaded = False


def _load_event_modules() -> None:
    global _loaded
    if not _loaded:
        for module in EVENT_MODULES:
            importlib.import_module(module)
        _loaded = True
_UPGRADES: dict[tuple[str, int], Upgrade] = {}


def register_event(cls: type[DomainEvent]) -> type[DomainEvent]:
    """Class decorator: make an event type decodable."""
    existing = _EVENT_TYPES.get(cls.event_type)
    if existing is not None and existing is not cls:
        raise RuntimeError(f"event type {cls.event_type!r} registered twice")
    _EVENT_TYPES[cls.event_type] = cls
    return cls


def register_upgrade(event_type: str, from_version: int) -> Callable[[Upgrade], Upgrade]:
    """Decorator: a function that turns version ``from_version`` data into ``from_version + 1``."""

    def decorator(fn: Upgrade) -> Upgrade:
        _UPGRADES[(event_type, from_version)] = fn
        return fn

    return decorator


def decode(raw: bytes) -> EventEnvelope | UnknownEvent:
    """Decode one record value.

    Returns ``UnknownEvent`` for a type or a newer version this build does not know
    (logged, never fatal); raises ``UndecodableEvent`` for a record that is not an
    envelope at all.
    """
    try:
        doc = orjson.loads(raw)
        event_type = doc["event_type"]
        version = int(doc["schema_version"])
        data = doc["data"]
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise UndecodableEvent(f"not an event envelope: {exc}") from exc
    _load_event_modules()
    cls = _EVENT_TYPES.get(event_type)
    if cls is None or version > cls.schema_version:
        log.warning("skipping event %s of unknown type or newer version %s", event_type, version)
        return UnknownEvent(event_type=event_type, schema_version=version, event_id=doc.get("event_id"))
    try:
        while version < cls.schema_version:
            data = _UPGRADES[(event_type, version)](data)
            version += 1
        event = cls.model_validate(data)
        return EventEnvelope.model_validate({**doc, "schema_version": version, "data": event})
    except (KeyError, ValidationError) as exc:
        raise UndecodableEvent(f"invalid {event_type} v{doc['schema_version']}: {exc}") from exc
