"""schemathesis against the running API (a real ``taskforge api`` process, real Kafka, chdb, the
stream processors), with valid admin credentials: every operation of ``/openapi.json`` gets
generated requests, and no answer may be a 5xx or contradict the schema (status code, content
type, headers, body). One check is left out: "schema-valid data must be accepted". The API has
rules a JSON schema cannot say (a password's strength, ``max_retry_delay_seconds`` at least
``retry_delay_seconds``, a refresh grant needing its token), which answer 422 with the field named;
422 is documented on every operation, so such an answer contradicts nothing. The number of cases and their outcome are printed (``-s``) and written to
``bench-results/schemathesis.txt``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis.errors import Unsatisfiable
from hypothesis import settings as hypothesis_settings
from schemathesis.core.failures import FailureGroup
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from taskforge.settings import Settings
from tests.support import AUTH, ApiProcess, StreamsProcess

pytestmark = pytest.mark.integration
EXAMPLES_PER_OPERATION = 25
RESULTS = Path(__file__).resolve().parents[2] / "bench-results" / "schemathesis.txt"


@pytest.fixture(scope="module")
def api_process(settings: Settings, streams: StreamsProcess, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[ApiProcess]:
    process = ApiProcess(settings, tmp_path_factory.mktemp("api") / "api.log")
    process.start()
    try:
        yield process
    finally:
        process.stop()


def _exerciser(strategy: Any, base_url: str, checks: dict[str, Any], counts: dict[str, int], label: str
               ) -> Callable[[], None]:
    @given(case=strategy)
    @hypothesis_settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True,
                         suppress_health_check=list(HealthCheck), database=None)
    def exercise(case: schemathesis.Case) -> None:
        counts[label] += 1
        case.call_and_validate(base_url=base_url, headers=dict(AUTH), **checks)

    return exercise


def test_no_operation_answers_a_5xx_or_contradicts_its_schema(api_process: ApiProcess) -> None:
    schema = schemathesis.openapi.from_url(f"{api_process.base_url}/openapi.json")
    schema.config.base_url = api_process.base_url  # type: ignore[attr-defined]
    cases_run: dict[str, int] = {}
    failures: dict[str, str] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            label = f"{operation.label} [{mode.value}]"
            cases_run[label] = 0
            # schema-valid requests: every check but positive-data acceptance (see the module's docstring);
            # schema-invalid ones: a 4xx, never a 5xx
            checks: dict[str, Any] = dict(excluded_checks=[positive_data_acceptance]) if mode is GenerationMode.POSITIVE else dict(
                checks=[not_a_server_error, negative_data_rejection])

            exercise = _exerciser(operation.as_strategy(generation_mode=mode), api_process.base_url, checks,
                                  cases_run, label)
            try:
                exercise()
            except Unsatisfiable:  # nothing to get wrong: an operation without parameters or body
                del cases_run[label]
            except (FailureGroup, AssertionError) as exc:
                failures[label] = str(exc)[:2000]
    total = sum(cases_run.values())
    summary = [f"schemathesis {schemathesis.__version__}: {len(cases_run)} operations, {total} cases, "
               f"{len(failures)} operations failing"]
    summary += [f"  {label}: {n} cases" for label, n in sorted(cases_run.items())]
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text("\n".join(summary) + "\n")
    print("\n".join(summary))
    assert len([label for label in cases_run if label.endswith("[positive]")]) >= 60, "every route is in the schema"
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
