"""Readings of this host and process for ``GET /metrics/system`` (Linux ``/proc``; the edge, not a rule)."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

_STARTED = time.monotonic()


def _cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values) - idle, sum(values)


def _memory_percent() -> float:
    info = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        name, _, rest = line.partition(":")
        info[name] = int(rest.split()[0])
    return round(100 * (1 - info["MemAvailable"] / info["MemTotal"]), 1)


def _process_rss() -> int:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


@dataclass
class HostSampler:
    """Host CPU use is a difference of two readings; this keeps the previous one."""

    _last: tuple[int, int] = field(default_factory=lambda: (0, 0))

    def cpu_percent(self) -> float:
        busy, total = _cpu_times()
        last_busy, last_total = self._last
        self._last = (busy, total)
        return round(100 * (busy - last_busy) / (total - last_total), 1) if total > last_total else 0.0

    def reading(self, data_dir: Path) -> dict[str, float | int]:
        disk = shutil.disk_usage(data_dir if data_dir.exists() else Path("/"))
        times = os.times()
        return {
            "cpu_usage_percent": self.cpu_percent(),
            "process_cpu_seconds": round(times.user + times.system, 2),
            "memory_usage_percent": _memory_percent(),
            "process_memory_bytes": _process_rss(),
            "disk_usage_percent": round(100 * disk.used / disk.total, 1),
            "load_average_1m": round(os.getloadavg()[0], 2),
            "uptime_seconds": round(time.monotonic() - _STARTED, 1),
        }
