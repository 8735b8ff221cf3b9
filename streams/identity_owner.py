"""The identity owner: the only writer of identity events.

``handle_identity_commands`` is pure over its registry: for each command it decides, applies
the events to the registry at once (so the next command of the batch sees them), and
returns the envelopes to append and the replies. The faust agent (in ``streams.app``)
first lets its follower of ``identity-events`` reach the log's end, so the registry holds
every identity event before a batch is decided, whichever instance owned the partition
before; the follower re-applies the owner's own events later, harmlessly, since each
carries its entity's whole state.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from producers.topics import Topics
from projections.rows import LogRecord
from projections.tail import TopicTail
from schemas.envelope import EventEnvelope, Tenant, wrap
from schemas.identity import (
    NO_PROJECT, AccessTokenRevoked, ApiKeySaved, IdentityCommandEnvelope, IdentityEvent, IdentityRefusal,
    IdentityReply, OAuthClientSaved, OrganizationSaved, ProjectDeleted, ProjectSaved, SessionSaved, UserDeleted,
    UserSaved, entity_id_of,
)
from streams.deciders.identity import Registry, decide, evolve
from streams.owning import event_id_for, fault_message, refusal_kind
from taskforge.errors import CredentialsExpired, TaskForgeError, Unauthenticated
from taskforge.settings import Settings

log = logging.getLogger(__name__)


def tenant_of(event: IdentityEvent) -> Tenant:
    """The envelope's tenant: the entity's organization, and its project where it has one."""
    match event:
        case OrganizationSaved(organization=org):
            return Tenant(organization_id=org.id, project_id=NO_PROJECT)
        case UserSaved(user=user):
            return Tenant(organization_id=user.organization_id, project_id=NO_PROJECT)
        case ProjectSaved(project=project):
            return Tenant(organization_id=project.organization_id, project_id=project.id)
        case ApiKeySaved(api_key=key):
            return Tenant(organization_id=key.organization_id, project_id=key.project_id)
        case OAuthClientSaved(client=client):
            return Tenant(organization_id=client.organization_id, project_id=client.project_id)
        case SessionSaved(session=session):
            return Tenant(organization_id=session.organization_id, project_id=NO_PROJECT)
        case AccessTokenRevoked(organization_id=org_id):
            return Tenant(organization_id=org_id, project_id=NO_PROJECT)
    raise TypeError(type(event).__name__)


def _refusal_kind(error: TaskForgeError) -> IdentityRefusal:
    """The owners' shared kinds, and the two only identity refuses with."""
    if isinstance(error, CredentialsExpired):
        return "expired"
    if isinstance(error, Unauthenticated):
        return "unauthenticated"
    return refusal_kind(error)


@dataclass(frozen=True)
class IdentityOutcome:
    events: list[EventEnvelope]
    replies: list[IdentityReply]


def handle_identity_commands(registry: Registry, commands: list[IdentityCommandEnvelope]) -> IdentityOutcome:
    """Decide a batch in order; the registry is updated as each command is decided (users, deletes:
    ``UserDeleted`` and ``ProjectDeleted`` take their tenant from the registry before they apply)."""
    envelopes: list[EventEnvelope] = []
    replies: list[IdentityReply] = []
    for command in commands:
        try:
            decision = decide(registry, command.data, command.issued_at, command.command_id)
        except Exception as exc:  # noqa: BLE001 - a fault boundary, as streams.job_owner.decide_or_refuse's
            # deciding reads the registry only, so nothing changed; ending the process instead would fail on
            # this command again after every restart, and no identity command would be decided any more
            log.exception("identity owner: %s (request %s) failed to decide; refused, nothing changed",
                          command.command_id, command.correlation_id)
            replies.append(IdentityReply(command_id=command.command_id, accepted=False, refusal="internal",
                                         message=fault_message("identity owner", type(command.data).__name__, exc)))
            continue
        for index, event in enumerate(decision.events):
            envelopes.append(wrap(
                event, tenant=_tenant_before(registry, event), aggregate_id=entity_id_of(event),
                occurred_at=command.issued_at, event_id=event_id_for(command.command_id, index),
                correlation_id=command.correlation_id, causation_id=command.command_id, actor=command.actor,
            ))
            evolve(registry, event, command.command_id)
        refusal = decision.refusal
        replies.append(IdentityReply(
            command_id=command.command_id, accepted=refusal is None,
            refusal=_refusal_kind(refusal) if refusal is not None else None,
            message=refusal.message if refusal is not None else None,
            details=dict(refusal.details) if refusal is not None else {},
        ))
    return IdentityOutcome(envelopes, replies)


def _tenant_before(registry: Registry, event: IdentityEvent) -> Tenant:
    if isinstance(event, UserDeleted):
        user = registry.users[event.user_id]
        return Tenant(organization_id=user.organization_id, project_id=NO_PROJECT)
    if isinstance(event, ProjectDeleted):
        project = registry.projects[event.project_id]
        return Tenant(organization_id=project.organization_id, project_id=project.id)
    return tenant_of(event)


def follow_registry(settings: Settings, topics: Topics, registry: Registry, name: str) -> TopicTail:
    """A follower of ``identity-events`` that keeps ``registry`` current (the owner's and the API's)."""

    async def apply(records: list[LogRecord], _positions: object) -> None:
        for record in records:
            evolve(registry, record.envelope.data, record.envelope.causation_id)  # type: ignore[arg-type]

    return TopicTail(settings, [topics.identity_events], apply, name=name)
