"""The read models' tables. Every one can be dropped and rebuilt from the log.

``SCHEMA_VERSION`` names the shape below. A store holding another version is dropped
and rebuilt from offset zero at start: read models are disposable, the log is the truth.

Current job rows collapse (VersionedCollapsingMergeTree by the owner's event sequence,
see ``projections.rows``), so counts are ``sum(sign)`` without FINAL. Their time-ordered copy
replaces by version instead: the projector writes it itself and may write a row there again
after a crash (see ``projections.projector``), which only a replacing table absorbs. Queue
and worker rows by the record's offset in their compacted topic (one aggregate, one partition). The
job history is ReplacingMergeTree on the event id, so a redelivered decision or a
re-read range of the log adds nothing. Row queries read with FINAL; reads of one job go to its
key in ``jobs_by_id``; counts sum the sign (from the ``counts`` projection where they can).
Period metrics read ``job_outcomes``, one row per outcome event.
"""

from __future__ import annotations

from projections.store import ClickHouseStore

SCHEMA_VERSION = 7

_JOB_COLUMNS_DDL = """
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
            started_at Nullable(DateTime64(6, 'UTC')),
            completed_at Nullable(DateTime64(6, 'UTC')),
            version UInt64"""

TABLES: dict[str, str] = {
    "jobs": f"""
        CREATE TABLE IF NOT EXISTS jobs ({_JOB_COLUMNS_DDL},
            sign Int8,
            -- every count (depth, list totals, queue stats) sums signs by these keys: the projection holds
            -- those sums per part, so a count reads a few rows per part instead of a tenant's whole history.
            -- Unlike a materialized view it is part of the part, written by the same insert.
            PROJECTION counts (
                SELECT organization_id, project_id, queue_id, queue_name, status, job_type, sum(sign)
                GROUP BY organization_id, project_id, queue_id, queue_name, status, job_type
            ))
        ENGINE = VersionedCollapsingMergeTree(sign, version)
        ORDER BY (organization_id, project_id, id)
        -- the projector's reads by id: small granules and compression blocks, so a lookup decompresses little;
        -- a merge that collapses rows rebuilds the projection from what it kept
        SETTINGS index_granularity = 256, min_compress_block_size = 4096, max_compress_block_size = 16384,
                 deduplicate_merge_projection_mode = 'rebuild'
    """,
    # Each job's newest row under its id, for GET /jobs/{id}: a key-value table (RocksDB), so a read is one
    # key lookup whatever the number of jobs and parts. The row is one JSON document (the jobs columns):
    # decoding one string costs less than twenty typed columns. Written with jobs_by_time, the same rows
    # (restated alike after a crash); an insert replaces the key's value.
    # Inserts go through RocksDB's memtable, not its bulk path (the engine's default), which makes every
    # insert an SST file of its own. The projector writes a few thousand rows twice a second, each job's
    # row two or three times within seconds: the memtable absorbs those rewrites, while the bulk path's
    # small files kept RocksDB compacting at a cost that grew with the table (in 150 s and 300 s engine runs,
    # a thread of the API process went from a few % to ~25% of a core, and the rate fell by ~15% over
    # 300 s; with the memtable, flat) and left hundreds of files for a lookup to search (docs/figures.md,
    # runs 101-106).
    "jobs_by_id": """
        CREATE TABLE IF NOT EXISTS jobs_by_id (
            id UUID,
            organization_id UUID,
            project_id UUID,
            version UInt64,
            doc String
        ) ENGINE = EmbeddedRocksDB
        PRIMARY KEY id
        SETTINGS optimize_for_bulk_insert = 0
    """,
    # Each job's newest row in time order, written by the projector with the jobs rows: list pages (newest
    # first) read a range of this table instead of all of a tenant's jobs. created_at never changes, so a
    # job's rows share one sorting key here too. Not a materialized view of jobs: its copy is not atomic
    # with the insert it follows, and a crash between the two could never be repaired by the collapsing
    # copy it then was.
    "jobs_by_time": f"""
        CREATE TABLE IF NOT EXISTS jobs_by_time (
            {_JOB_COLUMNS_DDL}
        ) ENGINE = ReplacingMergeTree(version)
        ORDER BY (organization_id, project_id, created_at, id)
    """,
    "job_events": """
        CREATE TABLE IF NOT EXISTS job_events (
            organization_id UUID,
            project_id UUID,
            job_id UUID,
            event_id UUID,
            event_type LowCardinality(String),
            schema_version UInt16,
            sequence UInt32,
            occurred_at DateTime64(6, 'UTC'),
            actor Nullable(String),
            correlation_id Nullable(String),
            causation_id Nullable(UUID),
            data String,
            kafka_partition UInt32,
            kafka_offset UInt64
        ) ENGINE = ReplacingMergeTree
        ORDER BY (organization_id, project_id, job_id, event_id)
    """,
    # One row per outcome event (succeeded, failed, dead-lettered), for the metrics of a period: a queue's
    # outcomes in time order, so a period is one range of the key. Each row is a function of its event
    # alone (the processing time travels in the event), so re-reading the log adds nothing new.
    "job_outcomes": """
        CREATE TABLE IF NOT EXISTS job_outcomes (
            organization_id UUID,
            project_id UUID,
            queue_id UUID,
            occurred_at DateTime64(6, 'UTC'),
            event_id UUID,
            job_id UUID,
            outcome LowCardinality(String),
            took_ms Nullable(Float64)
        ) ENGINE = ReplacingMergeTree
        ORDER BY (organization_id, project_id, queue_id, occurred_at, event_id)
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
    "workers": """
        CREATE TABLE IF NOT EXISTS workers (
            organization_id UUID,
            project_id UUID,
            id UUID,
            name String,
            worker_type String,
            queue_ids Array(UUID),
            job_types Array(String),
            max_concurrent_jobs UInt32,
            heartbeat_interval_seconds UInt32,
            metadata String,
            status LowCardinality(String),
            registered_at DateTime64(6, 'UTC'),
            last_heartbeat_at DateTime64(6, 'UTC'),
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


#: Objects of earlier versions that no longer exist. A reset drops them too: a view left behind
#: would go on writing into the tables it used to feed.
RETIRED = ("jobs_by_time_view",)  # version 3: the time-ordered copy as a materialized view of jobs

_META = """
    CREATE TABLE IF NOT EXISTS read_model_meta (name String, value UInt32)
    ENGINE = ReplacingMergeTree(value) ORDER BY name
"""


async def create_tables(store: ClickHouseStore) -> None:
    for ddl in TABLES.values():
        await store.command(ddl)


async def drop_tables(store: ClickHouseStore) -> None:
    for name in (*RETIRED, *TABLES):  # retired views first: they write into current tables
        await store.command(f"DROP TABLE IF EXISTS {name}")


async def ensure_schema(store: ClickHouseStore) -> bool:
    """Create the tables; drop and recreate them all when they were made for another version.

    Returns True when the read models were reset (the projector then starts from offset zero).
    """
    await store.command(_META)
    stored = await store.scalar("SELECT max(value) FROM read_model_meta FINAL WHERE name = 'schema_version'")
    existing = await store.scalar("SELECT count() FROM system.tables WHERE database = currentDatabase() "
                                  "AND name = 'projector_offsets'")
    reset = bool(existing) and stored != SCHEMA_VERSION
    if reset:
        await drop_tables(store)
    await create_tables(store)
    await store.command(f"INSERT INTO read_model_meta VALUES ('schema_version', {SCHEMA_VERSION})")
    return reset
