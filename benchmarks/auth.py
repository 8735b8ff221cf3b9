"""Authentication overhead, measured against a real ``taskforge api`` process over loopback.

At a fixed request rate, one keep-alive client sends, in turn, an unauthenticated
``GET /health``, and ``GET /api/v1/auth/validate`` with a user's access token (JWT) and with
an API key; it prints p50/p99 of each. The difference is what authentication, tenancy and
the rate-limit budget cost per request (all served from memory).

Run: ``make bench-auth`` (or ``python -m benchmarks.auth --rate 300 --seconds 20``).
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from benchmarks.foundation import machine, percentile, publish
from infra.kafka.broker import LocalBroker
from tests.support import (
    PRODUCTION_LIMITS, ApiProcess, StreamsProcess, free_port, scoped_settings,
)

PASSWORD = "bench-Password-2026"


def run(rate: float, seconds: float) -> dict[str, object]:
    results: dict[str, object] = {"machine": machine(), "rate_per_s": rate, "seconds": seconds}
    with tempfile.TemporaryDirectory(prefix="taskforge-bench-auth-") as tmp:
        data_dir = Path(tmp)
        settings = scoped_settings(data_dir, free_port(), free_port(), clickhouse_url=None, api_port=free_port(),
                                   kafka_heap="512m", **{**PRODUCTION_LIMITS,
                                                         # the bench reads far beyond 5,000/h from one IP
                                                         "rate_limit_read_per_hour": 10_000_000,
                                                         "rate_limit_ip_per_hour": 10_000_000})
        broker = LocalBroker(settings)
        broker.start()
        streams = StreamsProcess(settings, data_dir / "streams.log")
        api = ApiProcess(settings, data_dir / "api.log")
        try:
            streams.start()
            api.start()
            with httpx.Client(base_url=api.base_url, timeout=10) as client:
                registered = client.post("/api/v1/auth/register", json={
                    "email": f"bench-{uuid.uuid4().hex[:6]}@example.com", "password": PASSWORD,
                    "organization_name": "Bench"})
                assert registered.status_code == 201, registered.text
                jwt = registered.json()["data"]["tokens"]["access_token"]
                key = client.post("/api/v1/api-keys", headers={"Authorization": f"Bearer {jwt}"}, json={
                    "name": "bench", "permissions": ["job:read"], "rate_limits": {"read_per_hour": 10_000_000}})
                assert key.status_code == 201, key.text
                kinds = {
                    "health_unauthenticated": ("/health", {}),
                    "validate_jwt": ("/api/v1/auth/validate", {"Authorization": f"Bearer {jwt}"}),
                    "validate_api_key": ("/api/v1/auth/validate", {"X-API-Key": key.json()["data"]["key"]}),
                }
                for path, headers in kinds.values():  # warm-up
                    for _ in range(50):
                        assert client.get(path, headers=headers).status_code == 200
                samples: dict[str, list[float]] = {name: [] for name in kinds}
                interval = 1.0 / rate
                names = list(kinds)
                next_at = time.perf_counter()
                deadline = next_at + seconds
                i = 0
                while next_at < deadline:
                    delay = next_at - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                    name = names[i % len(names)]
                    path, headers = kinds[name]
                    t0 = time.perf_counter()
                    response = client.get(path, headers=headers)
                    samples[name].append(time.perf_counter() - t0)
                    assert response.status_code == 200, response.text
                    i += 1
                    next_at += interval
                for name, values in samples.items():
                    results[name] = {"requests": len(values), "p50_ms": round(percentile(values, 50) * 1000, 2),
                                     "p99_ms": round(percentile(values, 99) * 1000, 2)}
        finally:
            api.stop()
            streams.stop()
            broker.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=300.0, help="requests per second, all kinds together")
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    publish("auth", run(args.rate, args.seconds))


if __name__ == "__main__":
    main()
