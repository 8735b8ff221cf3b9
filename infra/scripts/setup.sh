#!/usr/bin/env bash
# Install what this checkout needs and is missing: a virtualenv with the Python
# packages, and the Kafka jars from Maven Central. Safe to run again; it redoes only
# what changed (pyproject.toml, infra/kafka/pom.xml).
set -euo pipefail
cd "$(dirname "$0")/../.."

need() { command -v "$1" >/dev/null 2>&1 || { echo "setup: '$1' is required ($2)" >&2; exit 1; }; }
need java "Java 17 or newer, for Kafka"
need mvn "Maven, to resolve the Kafka jars from Maven Central"

# Which interpreter .venv is made from. $PYTHON when set; otherwise the first of the candidates
# that is Python 3.11+, can make a virtualenv with pip (venv and ensurepip: Debian ships ensurepip in
# python3.11-venv), and runs from its executable alone, without loading libpython as a shared
# library. Such a build runs this code 15-20% faster than a shared one: a
# distribution's python3 (Debian's is built with PGO and LTO, linked statically) against a
# default pyenv build (shared libpython, no PGO/LTO), measured with the same packages:
# 165 against 200 us of CPU per job in the owner's decisions, 1,695-1,743 against ~1,540 jobs/s in
# the engine bench (docs/figures.md, runs 117-). Without one, the first usable candidate.
usable() { "$1" -c 'import sys, venv, ensurepip; sys.exit(0 if sys.version_info >= (3, 11) else 1)' >/dev/null 2>&1; }
# whether the running interpreter has libpython in its own executable (sysconfig cannot tell: Debian's
# says Py_ENABLE_SHARED=1, since it builds a shared libpython too, for embedding)
linked_in() { "$1" -c 'import sys; sys.exit(1 if "libpython" in open("/proc/self/maps").read() else 0)' 2>/dev/null; }
if [ -z "${PYTHON:-}" ]; then
  fallback=""
  for candidate in /usr/bin/python3 /usr/bin/python3.11 python3; do
    command -v "$candidate" >/dev/null 2>&1 && usable "$candidate" || continue
    fallback=${fallback:-$candidate}
    if linked_in "$candidate"; then PYTHON=$candidate; break; fi
  done
  PYTHON=${PYTHON:-$fallback}
  [ -n "$PYTHON" ] || { echo "setup: Python 3.11 or newer (with its venv and ensurepip modules) is required" >&2; exit 1; }
fi
need "$PYTHON" "Python 3.11 or newer"
usable "$PYTHON" || { echo "setup: $PYTHON is not Python 3.11+ with the venv and ensurepip modules" >&2; exit 1; }
python_home=$("$PYTHON" -c 'import os, sys; print(os.path.dirname(os.path.abspath(sys._base_executable)))')  # as venv records it

# a .venv made from another interpreter (an older setup's choice, or another $PYTHON) is made again
if [ -x .venv/bin/python ] && ! grep -qxF "home = $python_home" .venv/pyvenv.cfg 2>/dev/null; then
  echo "setup: .venv was made from another Python; making it again from $PYTHON"
  rm -rf .venv
fi
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv from $PYTHON ($("$PYTHON" --version))"
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
