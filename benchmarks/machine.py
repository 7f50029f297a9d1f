"""What the benchmarks record about the machine they ran on (imported by the scripts beside it)."""
from __future__ import annotations


def cpu_model() -> str:
    """/proc/cpuinfo's model name, or "unknown"."""
    try:
        with open("/proc/cpuinfo") as f:
            return next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        return "unknown"


def write_result(path, result: dict) -> None:
    """Write a benchmark's result as indented JSON (folders made) and say where."""
    import json
    from pathlib import Path

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(result, indent=1) + "\n")
    print(f"written: {path}")
