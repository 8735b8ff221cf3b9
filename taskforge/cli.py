"""The ``taskforge`` command."""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import logging
import os
import sys
import time

from pydantic import ValidationError

from taskforge.event_loop import use_uvloop
from taskforge.niceness import set_thread_niceness
from taskforge.repeated_logs import quiet_repeated_kafka_client_errors
from taskforge.settings import Settings


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        sys.exit(f"invalid TASKFORGE_* configuration:\n{exc}")


def _configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    quiet_repeated_kafka_client_errors()


def cmd_kafka(args: argparse.Namespace) -> int:
    from infra.kafka.broker import BrokerError, LocalBroker

    broker = LocalBroker(_settings())
    try:
        if args.action == "start":
            started = time.monotonic()
            status = broker.start()
            print(f"kafka {status.detail} (pid {status.pid}) at {status.bootstrap_servers} "
                  f"in {time.monotonic() - started:.1f}s; log: {broker.output_file}")
        elif args.action == "stop":
            print(f"kafka {broker.stop().detail}")
        else:
            status = broker.status()
            print(f"kafka {status.detail}" + (f" (pid {status.pid}) at {status.bootstrap_servers}" if status.pid else ""))
            return 0 if status.running else 3
    except BrokerError as exc:
        print(f"kafka: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_topics(_args: argparse.Namespace) -> int:
    from producers.topics import Topics, ensure_topics

    settings = _settings()
    created = asyncio.run(ensure_topics(settings, Topics.from_settings(settings)))
    print("created: " + (", ".join(created) if created else "nothing, all topics exist"))
    return 0


def cmd_api(args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app

    settings = _settings()
    _configure_logging(args.log_level)
    uvicorn.run(create_app(settings), host=settings.api_host, port=settings.api_port, log_level=args.log_level,
                access_log=False)
    return 0


def cmd_streams(args: argparse.Namespace) -> int:
    import faust

    from producers.topics import Topics, ensure_topics
    from streams.app import create_streams_app

    settings = _settings()
    # before any thread starts, so that every thread of the process runs at it (taskforge/niceness.py)
    if settings.streams_niceness and not set_thread_niceness(settings.streams_niceness):
        logging.getLogger(__name__).warning(
            "running at nice %d, not TASKFORGE_STREAMS_NICENESS=%d: a higher priority needs root, CAP_SYS_NICE "
            "or systemd's Nice=", os.getpriority(os.PRIO_PROCESS, 0), settings.streams_niceness)
    use_uvloop()
    asyncio.run(ensure_topics(settings, Topics.from_settings(settings)))  # faust must find its source topics
    quiet_repeated_kafka_client_errors()  # faust sets up its own logging; the filter sits on the logger
    worker = faust.Worker(create_streams_app(settings), loglevel=args.log_level, quiet=not sys.stdout.isatty())
    # faust's progress spinner sets the root logger to DEBUG (it spins on every record), which makes
    # aiokafka build a debug record for every request it sends: ~9% of the processors' CPU under load
    worker.spinner = None
    worker.execute_from_commandline()
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """Run a ``taskforge_sdk.Worker`` found at ``module:attribute`` (an instance, or a function making one)."""
    import importlib
    import os

    from taskforge_sdk import Worker

    _configure_logging(args.log_level)
    module_name, _, attribute = args.target.partition(":")
    sys.path.insert(0, os.getcwd())
    found = getattr(importlib.import_module(module_name), attribute or "worker")
    worker = found if isinstance(found, Worker) else found()
    if not isinstance(worker, Worker):
        print(f"{args.target} is not a taskforge_sdk.Worker", file=sys.stderr)
        return 2
    use_uvloop()
    worker.run()
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from projections.replay import main_replay

    _configure_logging(args.log_level)
    return main_replay(_settings(), lambda text: (sys.stdout.write(text), sys.stdout.flush()))


def cmd_dev(args: argparse.Namespace) -> int:
    from taskforge.devstack import run_dev

    _configure_logging(args.log_level)
    return run_dev(_settings(), log_level=args.log_level)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="taskforge", description="TaskForge: background jobs on Apache Kafka.")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    sub = parser.add_subparsers(dest="command", required=True)

    kafka = sub.add_parser("kafka", help="the local single-node Kafka broker")
    kafka.add_argument("action", choices=["start", "stop", "status"])
    kafka.set_defaults(func=cmd_kafka)

    sub.add_parser("topics", help="create missing topics").set_defaults(func=cmd_topics)
    sub.add_parser("api", help="serve the API (and, in embedded mode, the projector)").set_defaults(func=cmd_api)
    sub.add_parser("streams", help="run the stream processors (a faust worker)").set_defaults(func=cmd_streams)
    worker = sub.add_parser("worker", help="run a worker: taskforge worker package.module:worker")
    worker.add_argument("target", help="module:attribute of a taskforge_sdk.Worker or of a function returning one")
    worker.set_defaults(func=cmd_worker)
    sub.add_parser("replay", help="drop the read models and rebuild them from offset zero (stop the API first "
                   "when ClickHouse is embedded)").set_defaults(func=cmd_replay)
    sub.add_parser("dev", help="start Kafka, the API with its projector and the stream processors; "
                   "print the URLs and the bootstrap key").set_defaults(func=cmd_dev)

    args = parser.parse_args(argv)
    # A fatal signal in native code (chdb, the Kafka client's C parts) would otherwise end the process
    # without a word in its log: this writes every thread's Python stack to stderr first.
    faulthandler.enable()
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
