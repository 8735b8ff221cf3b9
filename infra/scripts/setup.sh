#!/usr/bin/env bash
# Install what this checkout needs and is missing: a virtualenv with the Python
# packages, and the Kafka jars from Maven Central. Safe to run again; it redoes only
# what changed (pyproject.toml, infra/kafka/pom.xml).
set -euo pipefail
cd "$(dirname "$0")/../.."

PYTHON=${PYTHON:-python3}
need() { command -v "$1" >/dev/null 2>&1 || { echo "setup: '$1' is required ($2)" >&2; exit 1; }; }
need "$PYTHON" "Python 3.11 or newer"
need java "Java 17 or newer, for Kafka"
need mvn "Maven, to resolve the Kafka jars from Maven Central"
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
  || { echo "setup: Python 3.11+ is required, found $("$PYTHON" --version)" >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.taskforge-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: installing Python packages"
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".[dev]"
  echo "$want" > "$stamp"
fi
.venv/bin/python -m infra.kafka.jars
