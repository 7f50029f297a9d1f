"""What the benchmarks record about the machine they ran on (imported by the scripts beside it)."""
from __future__ import annotations


def cpu_model() -> str:
    """/proc/cpuinfo's model name, or "unknown"."""
    try:
        with open("/proc/cpuinfo") as f:
            return next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        return "unknown"
