"""`svc new` at a terminal asks the template's questions with copier's own prompts (which svc
imports only when one is shown), in a real pseudo-terminal."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from helpers import build_tree

SVC = Path(sys.executable).parent / "svc"
DOWN = b"\x1b[B"


class Terminal:
    """A process on the far side of a pseudo-terminal: what it printed, and keys to type."""

    def __init__(self, *command: str, cwd: Path) -> None:
        self.master, slave = pty.openpty()
        self.process = subprocess.Popen(command, cwd=cwd, stdin=slave, stdout=slave, stderr=slave)
        os.close(slave)
        self.screen = b""

    def wait_for(self, text: bytes, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.screen:
            assert time.monotonic() < deadline, f"never shown: {text!r}; the screen: {self.screen[-500:]!r}"
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if ready:
                self.screen += os.read(self.master, 4096)

    def type(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def close(self) -> int:
        code = self.process.wait(timeout=30)
        os.close(self.master)
        return code


def test_new_at_a_terminal_asks_each_question(tmp_path: Path) -> None:
    template = build_tree(
        tmp_path / "tpl",
        {
            "copier.yml": "service_name: {type: str}\n"
            "colour: {type: str, choices: [red, blue], default: red}\nteam: {type: str}\n",
            "answers.txt.jinja": "{{ colour }} {{ team }}\n",
        },
    )
    terminal = Terminal(str(SVC), "new", "billing", "-t", str(template), "--no-git", cwd=tmp_path)
    terminal.wait_for(b"colour")
    terminal.type(DOWN + b"\r")
    terminal.wait_for(b"team")
    terminal.type(b"payments\r")
    assert terminal.close() == 0, terminal.screen.decode(errors="replace")
    assert (tmp_path / "billing" / "answers.txt").read_text() == "blue payments\n"
