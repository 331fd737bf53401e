"""The end of a benchmark run shared by the benchmarks: the settings line with the load average, the table, the JSON."""

from __future__ import annotations

import json
from typing import Callable


def finish(results: list[dict], settings: str, print_table: Callable[[list[dict]], None], json_path: str | None) -> None:
    """Print ``settings`` with the machine's load average (what the times were measured beside), the table, and write
    the rows as JSON to ``json_path`` when given."""
    with open("/proc/loadavg") as load:
        load_average = load.read().split()[:3]
    print(f"{settings}; load average {load_average}")
    print_table(results)
    if json_path is not None:
        with open(json_path, "w") as out:
            json.dump(results, out, indent=2)
