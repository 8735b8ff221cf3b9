"""The identity registry in the API's memory, fed by ``identity-events``.

Every request needs a key or token lookup; it must not pay a query for it. This follower
holds the same ``Registry`` the identity owner decides against, so a key revoked by the
owner is refused by every replica as soon as its follower has read the event (tens of
milliseconds; a replica that wrote the change waits for it before answering).
"""

from __future__ import annotations

from producers.topics import Topics
from projections.directory import FollowedDirectory
from projections.rows import LogRecord
from streams.deciders.identity import Registry, evolve
from taskforge.settings import Settings


class IdentityDirectory(FollowedDirectory):
    def __init__(self, settings: Settings, topics: Topics) -> None:
        super().__init__(settings, topics.identity_events, "identity-directory")
        self.registry = Registry()

    def apply(self, record: LogRecord) -> None:
        evolve(self.registry, record.envelope.data, record.envelope.causation_id)  # type: ignore[arg-type]
