"""API testing and monitoring of a realm: `svc radar run` and `svc radar watch`.

- `model`: what a round finds (`CheckResult`, `RadarReport`) and its sums;
- `checks`: the standard checks over HTTP and a service's own API checks (a new check
  goes here);
- `run`: one round over a realm's live instances, and the watch loop;
- `export`: JUnit XML and Prometheus metrics.
"""

from .export import RadarExporter, write_junit
from .model import CheckResult, RadarReport, RadarRequest, WatchState, percentile
from .run import parse_duration, round_line, run_radar, watch_radar

__all__ = [
    "CheckResult",
    "RadarExporter",
    "RadarReport",
    "RadarRequest",
    "WatchState",
    "parse_duration",
    "percentile",
    "round_line",
    "run_radar",
    "watch_radar",
    "write_junit",
]
