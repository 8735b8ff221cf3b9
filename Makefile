# The two commands of the README, and a few more. Everything runs from .venv.
.PHONY: setup run test test-unit bench bench-engine bench-auth bench-read-models clean-data

setup:
	@infra/scripts/setup.sh

## Command 1: install what is missing, start Kafka, the API with its projector; Ctrl-C stops it all.
run: setup
	.venv/bin/taskforge dev

## Command 2: install what is missing, run the whole suite against a throwaway Kafka and chdb.
test: setup
	.venv/bin/python -m pytest

test-unit: setup
	.venv/bin/python -m pytest tests/unit

## Figures: Kafka cold start, POST /jobs per second, POST-to-listed latency.
bench: setup
	.venv/bin/python -m benchmarks.foundation

## Figures: end-to-end throughput, CPU split, submit-to-start latency, long-poll wake-up.
bench-engine: setup
	.venv/bin/python -m benchmarks.engine

## Figures: authentication overhead (JWT, API key) against unauthenticated /health at a fixed rate.
bench-auth: setup
	.venv/bin/python -m benchmarks.auth

## Figures: 10M job events through Kafka and the projector; query latency, projector rate and lag, replay time.
bench-read-models: setup
	.venv/bin/python -m benchmarks.read_models

## Remove the local data directory (Kafka logs, chdb files). Stop `make run` first.
clean-data:
	rm -rf .taskforge
