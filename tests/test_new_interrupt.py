"""`svc new` stopped half-way (SIGTERM, as `timeout` sends it): nothing is left behind."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from helpers import build_tree


def test_sigterm_during_svc_new_leaves_nothing_and_exits_143(tmp_path: Path) -> None:
    template = build_tree(
        tmp_path / "tpl",
        {
            "copier.yml": '_tasks: ["touch task-started; sleep 30"]\nservice_name: {type: str}\n',
            "README.md": "hi\n",
        },
    )
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "scaffold", "new", "billing", "-t", str(template), "-o", str(out), "--trust"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not list(out.glob(".billing.svc-*/billing/task-started")):
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, "the template's task never started"
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143, stderr
    assert not out.exists()  # svc new made it, so svc new removes it
