"""The engine bench's submissions: payloads of the asked size, batches the API accepts."""

from __future__ import annotations

import orjson
import pytest

from benchmarks.engine import batch_size, bench_payload

LIMIT = 1024 * 1024  # TASKFORGE_MAX_REQUEST_BYTES' default


@pytest.mark.parametrize("size", [1, 12, 100, 1024, 16_384, 200_000])
def test_a_payload_is_the_asked_number_of_bytes_of_json(size: int) -> None:
    assert len(orjson.dumps(bench_payload(size))) == max(size, len(b'{"data":""}'))


def test_no_payload_is_an_empty_object() -> None:
    assert bench_payload(0) == {}


@pytest.mark.parametrize("payload_bytes", [0, 512, 1024, 4096, 16_384, 200_000])
def test_a_batch_is_as_large_as_fits_in_one_request_body(payload_bytes: int) -> None:
    item = {"queue_name": "bench-0123456789", "job_type": "noop", "payload": bench_payload(payload_bytes)}
    size = batch_size(len(orjson.dumps(item)), LIMIT)
    assert 1 <= size <= 1000
    assert len(orjson.dumps({"jobs": [item] * size})) <= LIMIT
    if size < 1000:  # one more would not fit
        assert len(orjson.dumps({"jobs": [item] * (size + 1)})) > LIMIT - 64


def test_small_jobs_go_in_batches_of_a_thousand() -> None:
    item = {"queue_name": "bench", "job_type": "noop", "payload": {}}
    assert batch_size(len(orjson.dumps(item)), LIMIT) == 1000
