"""The one settings object of every TaskForge process.

Every knob is an environment variable with the ``TASKFORGE_`` prefix (the README lists
them all). A process builds one ``Settings`` at start and passes it down explicitly;
nothing else reads the environment.
"""

from __future__ import annotations

import uuid
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.ids import derived_id

# Stable ids of the bootstrap tenant, so that a restarted dev system keeps its data
# under the same organization and project.
_BOOTSTRAP_NAMESPACE = uuid.UUID("6f1f1f5e-6b1c-4f53-9c55-0c7f6b2f7a10")
BOOTSTRAP_ORGANIZATION_ID = derived_id(_BOOTSTRAP_NAMESPACE, "organization")
BOOTSTRAP_PROJECT_ID = derived_id(_BOOTSTRAP_NAMESPACE, "project")
BOOTSTRAP_KEY_ID = derived_id(_BOOTSTRAP_NAMESPACE, "api-key")
_PLACEHOLDER_SECRETS = {"secret", "changeme", "change-me", "jwt-secret", "your-secret-key", "default"}


class Settings(BaseSettings):
    """Validated configuration; ``Settings()`` reads ``TASKFORGE_*`` variables."""

    model_config = SettingsConfigDict(env_prefix="TASKFORGE_", frozen=True, extra="ignore")

    env: Literal["dev", "test", "prod"] = "dev"
    data_dir: Path = Field(default=Path(".taskforge"), description="Kafka logs, chdb files, PIDs and logs live here.")

    # Kafka
    kafka_bootstrap_servers: str | None = Field(
        default=None, description="host:port list; defaults to the local broker on kafka_port."
    )
    kafka_port: int = Field(default=9092, ge=1, le=65535)
    kafka_controller_port: int = Field(default=9093, ge=1, le=65535)
    kafka_heap: str = Field(default="512m", pattern=r"^\d+[mg]$")
    kafka_jvm_options: str = Field(
        default="-XX:TieredStopAtLevel=1", pattern=r"^[A-Za-z0-9:+=._ -]*$", max_length=500,
        description="Extra JVM options for the local broker, space-separated. The default stops the JIT at C1: "
                    "the C2 compiler takes 40-64% of a core in bursts for minutes after a start, which the local "
                    "broker's short lives (dev, tests, benches) never earn back (docs/figures.md, runs 117-).",
    )
    kafka_start_timeout_seconds: float = Field(default=60.0, gt=0)
    kafka_publish_timeout_seconds: float = Field(
        default=5.0, gt=0, le=60, description="Longest a write waits for Kafka's ack before answering 503."
    )
    command_timeout_seconds: float = Field(
        default=5.0, gt=0, le=60, description="Longest the API waits for an owner's verdict before answering 503."
    )
    streams_session_timeout_seconds: float = Field(
        default=10.0, ge=6, le=300,
        description="How long a crashed stream-processor instance keeps its partitions before the group moves them.",
    )
    streams_recovery_stall_seconds: float = Field(
        default=60.0, ge=1, le=3_600,
        description="How long a stream processor's table recovery may go without reading a changelog record "
        "before it is started over, and then before the process ends for its supervisor to start it again "
        "(streams/recovery_watch.py).",
    )
    timer_interval_ms: int = Field(
        default=100, ge=10, le=5_000, description="How often stream processors look for due timers (scheduled jobs, "
        "retry backoff, lease deadlines)."
    )
    job_retention_seconds: int = Field(
        default=86_400, ge=1, le=366 * 86_400,
        description="How long the job owners keep a succeeded or cancelled job after its last event, before they "
        "archive it (streams/retention.py): its reports are then answered from the read model, which keeps the job. "
        "Jobs submitted with an idempotency key are never archived.",
    )
    failed_job_retention_seconds: int = Field(
        default=7 * 86_400, ge=1, le=366 * 86_400,
        description="The same for failed and dead-lettered jobs, which can be retried by hand until archived.",
    )
    dispatch_interval_ms: int = Field(
        default=1_000, ge=1, le=10_000, description="How often dispatchers sweep every waiting lease request, a "
        "safety net: work that becomes ready is offered at once, and a request whose wait is up is answered at "
        "its deadline."
    )
    streams_niceness: int = Field(
        default=0, ge=-20, le=19,
        description="Nice value (Linux) `taskforge streams` runs at. Its event loop is the engine's serial stage: "
                    "on a machine it shares with the API, Kafka and workers, a negative value (which needs root, "
                    "CAP_SYS_NICE or systemd's Nice=) lets it run whenever it has work; refused, it runs at 0.",
    )
    streams_fetch_max_wait_ms: int = Field(
        default=20, ge=1, le=1_500,
        description="How long the stream processors' consumer lets the broker hold a fetch that leaves a wanted "
                    "partition out (its records still buffered): a record for it waits for the fetch to return.",
    )
    streams_quiet_fetch_max_wait_ms: int = Field(
        default=250, ge=1, le=1_500,
        description="How long the broker may hold a stream-processor fetch that asks for every partition faust "
                    "wants (a record for any of them answers it at once): what an idle process polls at.",
    )
    owner_batch_max: int = Field(default=1_000, ge=1, le=100_000,
                                 description="Most records a job owner or dispatcher decides in one round.")
    owner_batch_linger_ms: int = Field(
        default=0, ge=0, le=1_000,
        description="How long an idle job owner or dispatcher waits for the rest of a burst before appending "
        "(streams/pipeline.py).",
    )
    max_batch_jobs: int = Field(default=1_000, ge=1, le=10_000, description="Most jobs in one POST /jobs/batch.")
    topic_prefix: str = Field(default="taskforge", pattern=r"^[A-Za-z0-9._-]{1,100}$")
    topic_partitions: int = Field(default=6, ge=1, le=1000)
    topic_replication_factor: int = Field(default=1, ge=1, le=10)

    # ClickHouse: chdb:///<path> (embedded, default) or http(s)://host:8123
    clickhouse_url: str | None = Field(default=None, description="Defaults to chdb:///<data_dir>/clickhouse.")
    clickhouse_database: str = Field(default="taskforge", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
    # Two: on a 2-core machine with embedded chdb, four clients measured GET /jobs/{id} p99 at 13-20 ms and the
    # projector's lag p99 at 0.86-1.22 s against 7.4-9.4 ms and 0.64-0.78 s with two (docs/figures.md, run 4).
    # A ClickHouse server on its own hosts can take more.
    clickhouse_pool_size: int = Field(default=2, ge=1, le=64)
    clickhouse_thread_niceness: int = Field(
        default=5, ge=0, le=19,
        description="Nice value (Linux) of the threads that run ClickHouse calls (and, with chdb, of the engine's "
                    "own threads): inserts and merges give way to the event loops under CPU contention; a "
                    "process already running nicer keeps its value.")

    # Projector
    projector_max_batch: int = Field(default=10_000, ge=1, le=1_000_000)
    projector_poll_ms: int = Field(default=50, ge=1, le=5_000)
    projector_linger_ms: int = Field(
        default=10, ge=0, le=1_000, description="How long a follower gathers records before handling a batch."
    )
    # 500: half the inserts (each ~5-10 ms of ClickHouse's CPU per table, plus merging its part) of 250, and a
    # status change still shows within a second at p99 (ARCHITECTURE.md §6). Engine bench: submit-to-start p99
    # 77-251 ms in eleven runs, four within 100, against 77-141 ms in four at 250 (docs/figures.md, "night session")
    projector_min_batch_interval_ms: int = Field(
        default=500, ge=0, le=5_000,
        description="Least time between the starts of two projector batches under steady load (each batch is an "
                    "insert per table).",
    )
    read_barrier_timeout_seconds: float = Field(
        default=2.0, gt=0, le=30, description="How long a read waits for the projection to reach the log's end."
    )

    # API
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65535)
    max_payload_bytes: int = Field(
        default=256 * 1024, ge=1, le=448 * 1024,
        description="Largest job payload, and largest output, in bytes of JSON. At most 448 KiB: a job's owner "
                    "holds its payload and its output together in one Kafka record (its table entry, its "
                    "answers), with room for an 8,000-character error and the owner's bookkeeping, and that "
                    "record must fit Kafka's default 1 MiB record limit.",
    )
    max_request_bytes: int = Field(default=1024 * 1024, ge=1024, le=64 * 1024 * 1024)

    cors_origins: list[str] = Field(default=[], description="Origins allowed by CORS; empty: no cross-origin access.")

    # Identity: tokens, passwords, rate limits (docs/identity.md)
    jwt_secret: SecretStr | None = Field(
        default=None, description="HS256 signing secret, at least 32 characters; required outside dev."
    )
    jwt_issuer: str = "taskforge"
    jwt_audience: str = "taskforge-api"
    access_token_ttl_seconds: int = Field(default=3600, ge=60, le=86_400)
    refresh_token_ttl_seconds: int = Field(default=30 * 86_400, ge=300, le=365 * 86_400)
    password_hash_time_cost: int = Field(default=3, ge=1, le=20)
    password_hash_memory_kib: int = Field(default=65_536, ge=8_192, le=1_048_576)
    password_hash_concurrency: int = Field(default=2, ge=1, le=64)
    login_failures_per_account: int = Field(default=10, ge=1, le=10_000, description="Per 15 minutes.")
    login_failures_per_ip: int = Field(default=100, ge=1, le=100_000, description="Per 15 minutes.")
    rate_limit_ip_per_hour: int = Field(default=1_000, ge=1, description="Requests without a valid credential.")
    rate_limit_read_per_hour: int = Field(default=5_000, ge=1, description="GETs per credential.")
    rate_limit_write_per_hour: int = Field(default=5_000, ge=1, description="Other methods per credential.")
    rate_limit_worker_per_hour: int = Field(
        default=3_600_000, ge=1, description="Worker-protocol and batch calls per credential (1,000/s)."
    )
    rate_limit_endpoints: dict[str, int] = Field(
        default={}, description='Extra per-credential hourly limits by route, e.g. {"POST /api/v1/jobs": 100}.'
    )
    trusted_proxies: list[str] = Field(
        default=[], description="Peers whose X-Forwarded-For names the client (a load balancer's addresses)."
    )

    # The bootstrap tenant of a dev or test system: one key, made a real API key at start.
    bootstrap_api_key: SecretStr | None = None
    bootstrap_organization_id: uuid.UUID = BOOTSTRAP_ORGANIZATION_ID
    bootstrap_project_id: uuid.UUID = BOOTSTRAP_PROJECT_ID

    @field_validator("data_dir")
    @classmethod
    def _absolute_data_dir(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator("bootstrap_api_key")
    @classmethod
    def _key_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and (not value.get_secret_value().startswith("tf_") or len(value.get_secret_value()) < 35):
            raise ValueError("bootstrap_api_key must be 'tf_' followed by at least 32 characters")
        return value

    @model_validator(mode="after")
    def _secret_outside_dev(self) -> Settings:
        secret = self.jwt_secret.get_secret_value() if self.jwt_secret is not None else None
        if secret is not None and (len(secret) < 32 or secret.lower().strip("_-") in _PLACEHOLDER_SECRETS):
            raise ValueError("jwt_secret must be at least 32 characters and not a placeholder")
        if self.env != "dev" and secret is None:
            raise ValueError("TASKFORGE_JWT_SECRET is required outside dev (32 characters or more)")
        return self

    @model_validator(mode="after")
    def _ports_differ(self) -> Settings:
        if self.kafka_port == self.kafka_controller_port:
            raise ValueError("kafka_port and kafka_controller_port must differ")
        if self.max_request_bytes < self.max_payload_bytes:
            raise ValueError("max_request_bytes must be at least max_payload_bytes")
        return self

    @cached_property
    def bootstrap_servers(self) -> str:
        return self.kafka_bootstrap_servers or f"127.0.0.1:{self.kafka_port}"

    @cached_property
    def clickhouse_dsn(self) -> str:
        return self.clickhouse_url or f"chdb://{self.data_dir / 'clickhouse'}"

    @property
    def clickhouse_is_embedded(self) -> bool:
        return self.clickhouse_dsn.startswith("chdb:")

    @property
    def kafka_dir(self) -> Path:
        return self.data_dir / "kafka"

    @property
    def run_dir(self) -> Path:
        """PID files and process logs of everything `taskforge dev` starts."""
        return self.data_dir / "run"
