"""The faust-streaming application: the owners of aggregates, one writer per partition.

Job events are keyed by job id; the agent that owns a partition applies them to the
``job-state`` table, whose changelog topic is where that state survives a crash (a
restarted or rebalanced worker reads it back before processing). Commands that need a
verdict (lease, complete, fail, cancel, retry) are decided here too once the job
engine lands; for now the owner keeps state.
"""

from __future__ import annotations

import faust

from producers.topics import Topics
from streams.job_owner import apply_job_record
from taskforge.settings import Settings


def changelog_topic(settings: Settings, table: str) -> str:
    return f"{app_id(settings)}-{table}-changelog"


def app_id(settings: Settings) -> str:
    return f"{settings.topic_prefix}-streams"


def create_streams_app(settings: Settings) -> faust.App:
    topics = Topics.from_settings(settings)
    app = faust.App(
        app_id(settings),
        broker=f"kafka://{settings.bootstrap_servers}",
        store="memory://",  # state is rebuilt from the changelog topic at start
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication_factor,
        processing_guarantee="at_least_once",  # exactly_once has open duplicate bugs (ARCHITECTURE.md §2)
        producer_acks=-1,
        web_enabled=False,
        key_serializer="raw",  # records are our own envelopes, decoded by schemas.envelope
        value_serializer="raw",
        datadir=str(settings.data_dir / "streams"),
    )
    job_events = app.topic(topics.job_events, key_type=bytes, value_type=bytes)
    job_state = app.Table("job-state", partitions=settings.topic_partitions, key_type=bytes, value_type=bytes)

    @app.agent(job_events, name="job-owner")
    async def own_jobs(stream: faust.StreamT) -> None:
        async for event in stream.events():
            apply_job_record(job_state, event.key, event.value, event.message.offset)

    return app
