"""The one settings object: environment prefix, defaults, refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from taskforge.settings import BOOTSTRAP_ORGANIZATION_ID, Settings


def test_reads_taskforge_prefixed_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TASKFORGE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TASKFORGE_KAFKA_PORT", "19999")
    monkeypatch.setenv("TASKFORGE_TOPIC_PARTITIONS", "12")
    monkeypatch.setenv("KAFKA_PORT", "1")  # unprefixed variables are not ours
    settings = Settings()
    assert settings.data_dir == tmp_path.resolve()
    assert settings.kafka_port == 19999
    assert settings.bootstrap_servers == "127.0.0.1:19999"
    assert settings.topic_partitions == 12


def test_clickhouse_defaults_to_embedded_chdb_under_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, clickhouse_url=None)
    assert settings.clickhouse_dsn == f"chdb://{tmp_path.resolve() / 'clickhouse'}"
    assert settings.clickhouse_is_embedded


def test_a_server_url_selects_the_http_backend() -> None:
    settings = Settings(clickhouse_url="http://127.0.0.1:8123")
    assert settings.clickhouse_dsn == "http://127.0.0.1:8123"
    assert not settings.clickhouse_is_embedded


def test_bootstrap_tenant_is_stable_across_processes() -> None:
    assert Settings().bootstrap_organization_id == BOOTSTRAP_ORGANIZATION_ID


@pytest.mark.parametrize(
    "overrides",
    [
        {"bootstrap_api_key": "short"},
        {"bootstrap_api_key": "xx_" + "a" * 40},
        {"kafka_port": 9092, "kafka_controller_port": 9092},
        {"topic_partitions": 0},
        {"topic_prefix": "bad prefix"},
        {"clickhouse_database": "drop table; --"},
        {"max_payload_bytes": 2_000_000, "max_request_bytes": 1_000_000},
        {"kafka_heap": "lots"},
    ],
)
def test_unsafe_or_inconsistent_values_are_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Settings(**overrides)


def test_settings_are_immutable() -> None:
    with pytest.raises(ValidationError):
        Settings().kafka_port = 1  # type: ignore[misc]


@pytest.mark.parametrize("secret", [None, "short-secret", "changeme", "x" * 31])
def test_outside_dev_a_real_jwt_secret_is_required(secret: str | None) -> None:
    with pytest.raises(ValidationError, match="jwt_secret|JWT_SECRET"):
        Settings(env="prod", jwt_secret=secret)


def test_dev_may_run_without_a_jwt_secret_and_prod_with_a_long_one() -> None:
    assert Settings(env="dev").jwt_secret is None
    assert Settings(env="prod", jwt_secret="p" * 32).jwt_secret is not None


def test_json_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKFORGE_RATE_LIMIT_ENDPOINTS", '{"POST /api/v1/jobs": 100}')
    monkeypatch.setenv("TASKFORGE_TRUSTED_PROXIES", '["10.0.0.0/8"]')
    settings = Settings()
    assert settings.rate_limit_endpoints == {"POST /api/v1/jobs": 100}
    assert settings.trusted_proxies == ["10.0.0.0/8"]
