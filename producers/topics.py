"""The topics TaskForge uses, named and shaped by configuration, and their creation.

Event topics keep everything forever (the log is the truth). Topics of configuration
entities are compacted: their events carry the entity's whole state, so the newest
record of a key is enough to rebuild it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aiokafka import AIOKafkaClient, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from taskforge.errors import EventLogUnavailable
from taskforge.settings import Settings

KEEP_FOREVER = {"cleanup.policy": "delete", "retention.ms": "-1", "retention.bytes": "-1"}
KEEP_A_WEEK = {"cleanup.policy": "delete", "retention.ms": str(7 * 24 * 3600 * 1000)}
KEEP_AN_HOUR = {"cleanup.policy": "delete", "retention.ms": str(3600 * 1000)}
COMPACTED = {"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"}


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int
    config: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Topics:
    """Every topic name in one place; build it from the settings."""

    job_events: str
    job_commands: str
    job_replies: str
    queue_commands: str
    dispatch: str
    queue_events: str
    worker_events: str
    identity_commands: str
    identity_events: str
    partitions: int
    replication_factor: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Topics:
        prefix = settings.topic_prefix
        return cls(
            job_events=f"{prefix}.job-events",
            job_commands=f"{prefix}.job-commands",
            job_replies=f"{prefix}.job-replies",
            queue_commands=f"{prefix}.queue-commands",
            dispatch=f"{prefix}.dispatch",
            queue_events=f"{prefix}.queue-events",
            worker_events=f"{prefix}.worker-events",
            identity_commands=f"{prefix}.identity-commands",
            identity_events=f"{prefix}.identity-events",
            partitions=settings.topic_partitions,
            replication_factor=settings.topic_replication_factor,
        )

    def specs(self) -> list[TopicSpec]:
        return [
            TopicSpec(self.job_events, self.partitions, self.replication_factor, KEEP_FOREVER),
            # commands: co-partitioned with the events (same key, same count), so one owner sees both
            TopicSpec(self.job_commands, self.partitions, self.replication_factor, KEEP_A_WEEK),
            TopicSpec(self.job_replies, self.partitions, self.replication_factor, KEEP_AN_HOUR),
            # queue commands: keyed by project id, one catalogue owner per project
            TopicSpec(self.queue_commands, self.partitions, self.replication_factor, KEEP_A_WEEK),
            # dispatch: keyed by queue id, co-partitioned with the queue events its dispatcher also reads
            TopicSpec(self.dispatch, self.partitions, self.replication_factor, KEEP_A_WEEK),
            TopicSpec(self.queue_events, self.partitions, self.replication_factor, COMPACTED),
            TopicSpec(self.worker_events, self.partitions, self.replication_factor, COMPACTED),
            # identity: one registry, one owner, so one partition (identity writes are rare; docs/identity.md)
            TopicSpec(self.identity_commands, 1, self.replication_factor, KEEP_A_WEEK),
            TopicSpec(self.identity_events, 1, self.replication_factor, COMPACTED),
        ]

    @property
    def projected(self) -> list[str]:
        """The topics whose events feed the ClickHouse read models."""
        return [self.job_events, self.queue_events, self.worker_events]


async def ensure_topics(settings: Settings, topics: Topics) -> list[str]:
    """Create whichever topics are missing; return the names created. Safe to call from every process."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers, request_timeout_ms=10_000)
    try:
        await admin.start()
        existing = set(await admin.list_topics())
        missing = [spec for spec in topics.specs() if spec.name not in existing]
        if not missing:
            return []
        response = await admin.create_topics(
            [NewTopic(s.name, s.partitions, s.replication_factor, topic_configs=s.config) for s in missing]
        )
        for name, code, message in response.topic_errors:
            if code not in (0, TopicAlreadyExistsError.errno):
                raise EventLogUnavailable(f"could not create topic {name}: error {code} {message}")
        return [s.name for s in missing]
    except KafkaError as exc:
        raise EventLogUnavailable(f"Kafka unreachable while creating topics: {exc!r}") from exc
    finally:
        await admin.close()


async def partitions_of(settings: Settings, names: list[str]) -> list[TopicPartition]:
    """Every partition of the given topics, read from fresh cluster metadata."""
    client = AIOKafkaClient(bootstrap_servers=settings.bootstrap_servers, request_timeout_ms=10_000)
    try:
        await client.bootstrap()
        metadata = await client.fetch_all_metadata()
    except KafkaError as exc:
        raise EventLogUnavailable(f"Kafka unreachable while reading metadata: {exc!r}") from exc
    finally:
        await client.close()
    missing = [name for name in names if not metadata.partitions_for_topic(name)]
    if missing:
        raise EventLogUnavailable(f"topics {missing} do not exist; they are created at start")
    return [TopicPartition(name, p) for name in names for p in sorted(metadata.partitions_for_topic(name) or ())]
