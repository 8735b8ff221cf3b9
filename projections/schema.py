"""The read models' tables. Every one can be dropped and rebuilt from the log.

Current-state tables are ReplacingMergeTree versioned by the event's Kafka offset (all
events of one aggregate share a partition, so offsets order them), and history tables
are ReplacingMergeTree on the record's log position, so re-inserting a range of the log
changes nothing. Queries read with FINAL.
"""

from __future__ import annotations

from projections.store import ClickHouseStore

TABLES: dict[str, str] = {
    "jobs": """
        CREATE TABLE IF NOT EXISTS jobs (
            organization_id UUID,
            project_id UUID,
            id UUID,
            queue_id UUID,
            queue_name String,
            job_type String,
            payload String,
            status LowCardinality(String),
            priority UInt8,
            max_attempts UInt8,
            attempt_count UInt8,
            output Nullable(String),
            error_message Nullable(String),
            worker_id Nullable(UUID),
            duration_ms Nullable(UInt64),
            scheduled_for Nullable(DateTime64(6, 'UTC')),
            idempotency_key Nullable(String),
            created_at DateTime64(6, 'UTC'),
            updated_at DateTime64(6, 'UTC'),
            completed_at Nullable(DateTime64(6, 'UTC')),
            version UInt64
        ) ENGINE = ReplacingMergeTree(version)
        ORDER BY (organization_id, project_id, id)
    """,
    "job_events": """
        CREATE TABLE IF NOT EXISTS job_events (
            organization_id UUID,
            project_id UUID,
            job_id UUID,
            event_id UUID,
            event_type LowCardinality(String),
            schema_version UInt16,
            occurred_at DateTime64(6, 'UTC'),
            actor Nullable(String),
            correlation_id Nullable(String),
            causation_id Nullable(UUID),
            data String,
            kafka_partition UInt32,
            kafka_offset UInt64
        ) ENGINE = ReplacingMergeTree
        ORDER BY (organization_id, project_id, job_id, kafka_offset)
    """,
    "queues": """
        CREATE TABLE IF NOT EXISTS queues (
            organization_id UUID,
            project_id UUID,
            id UUID,
            name String,
            description Nullable(String),
            priority UInt8,
            settings String,
            is_active Bool,
            deleted Bool,
            created_at DateTime64(6, 'UTC'),
            updated_at DateTime64(6, 'UTC'),
            version UInt64
        ) ENGINE = ReplacingMergeTree(version)
        ORDER BY (organization_id, project_id, id)
    """,
    "projector_offsets": """
        CREATE TABLE IF NOT EXISTS projector_offsets (
            topic String,
            partition UInt32,
            next_offset UInt64,
            written_at DateTime64(6, 'UTC')
        ) ENGINE = ReplacingMergeTree(next_offset)
        ORDER BY (topic, partition)
    """,
}


async def create_tables(store: ClickHouseStore) -> None:
    for ddl in TABLES.values():
        await store.command(ddl)


async def drop_tables(store: ClickHouseStore) -> None:
    for name in TABLES:
        await store.command(f"DROP TABLE IF EXISTS {name}")
