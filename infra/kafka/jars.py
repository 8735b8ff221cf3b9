"""Resolve the Kafka jars from Maven Central with ``mvn``, once.

The jars land in ``infra/kafka/lib``; a marker holding the pom's hash says they are
complete, so a changed pom resolves again and an interrupted copy is never used.
Nothing is downloaded at run time: starting the broker only reads this folder.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

KAFKA_DIR = Path(__file__).resolve().parent
POM = KAFKA_DIR / "pom.xml"
LIB_DIR = KAFKA_DIR / "lib"
LOG4J_CONFIG = KAFKA_DIR / "log4j2.properties"
_MARKER = LIB_DIR / ".complete"


class JarsUnavailable(RuntimeError):
    """mvn is missing or could not resolve the jars."""


def _pom_hash() -> str:
    return hashlib.sha256(POM.read_bytes()).hexdigest()


def jars_ready() -> bool:
    return _MARKER.exists() and _MARKER.read_text().strip() == _pom_hash()


def ensure_jars(quiet: bool = True) -> Path:
    """Return the folder of jars, running mvn first if they are not there yet."""
    if jars_ready():
        return LIB_DIR
    mvn = shutil.which("mvn")
    if mvn is None:
        raise JarsUnavailable("mvn is not on PATH; install Maven (apt-get install maven)")
    LIB_DIR.mkdir(parents=True, exist_ok=True)
    with open(KAFKA_DIR / ".lib.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if jars_ready():
            return LIB_DIR
        for old in LIB_DIR.glob("*.jar"):
            old.unlink()
        cmd = [
            mvn, "-B", "-f", str(POM),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={LIB_DIR}",
            "-DincludeScope=runtime",
        ]
        if quiet:
            cmd.insert(1, "-q")
        done = subprocess.run(cmd, capture_output=quiet, text=True)
        if done.returncode != 0:
            raise JarsUnavailable(f"mvn failed ({done.returncode}): {(done.stdout or '')[-2000:]}{(done.stderr or '')[-2000:]}")
        _MARKER.write_text(_pom_hash())
    return LIB_DIR


if __name__ == "__main__":
    print(f"Kafka jars in {ensure_jars(quiet='-v' not in sys.argv)}")
