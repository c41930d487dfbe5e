"""A pause at a named point, for tests only: nothing in normal use sets these variables.

With `SVC_TEST_PAUSE=POINT` and `SVC_TEST_PAUSE_DIR=DIR`, the svc process that reaches
`pause("POINT")` creates `DIR/POINT` and sleeps (a minute at most), so that a test can
kill it at exactly that point and check what the next command makes of it, or change
something meanwhile and let it go on by creating `DIR/POINT.resume`.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

_LONGEST = 60.0


def pause(point: str) -> None:
    if os.environ.get("SVC_TEST_PAUSE") != point or not os.environ.get("SVC_TEST_PAUSE_DIR"):
        return
    folder = Path(os.environ["SVC_TEST_PAUSE_DIR"])
    (folder / point).touch()
    until = time.monotonic() + _LONGEST
    while time.monotonic() < until and not (folder / f"{point}.resume").exists():
        time.sleep(0.05)
