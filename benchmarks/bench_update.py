"""Benchmark: `svc update` against `copier update`, same template, same project.

The template is the built-in python-service (≈50 files) put in a git repository as
v1.0.0, then a realistic v1.1.0: a changed Dockerfile and README, a function added to
the server, a new module, a module renamed, a config file deleted. Two projects carry the
same local edits: one made by `svc new`, one by `copier copy`. svc runs twice: in the
service with `svc/template` present (the base is a commit), and in a depth-1 clone of it
that has neither the branch nor a render in its history (the base is rendered again, as
in a CI checkout). Each round runs every command as the user would (CLI processes,
startup included), in rotating order, and puts the projects back between rounds
(untimed). Prints the median of the timed rounds after one warm-up round, and the ratios.

    /work/venv/bin/python benchmarks/bench_update.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

BIN = Path(sys.executable).parent
BUILTIN = Path(__file__).resolve().parents[1] / "templates" / "python-service"
ANSWERS = ["-d", "service_name=bench-svc"]


def run(*cmd: str | Path, cwd: Path | None = None, check: bool = True) -> None:
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed:\n{done.stdout}{done.stderr}")


def commit(repo: Path, message: str) -> None:
    run("git", "add", "-A", cwd=repo)
    run("git", "commit", "-q", "-m", message, cwd=repo)


def make_template(root: Path) -> Path:
    template = root / "template"
    shutil.copytree(BUILTIN, template)
    run("git", "init", "-q", cwd=template)
    commit(template, "v1.0.0")
    run("git", "tag", "v1.0.0", cwd=template)
    files = template / "template"
    runtime = files / "src" / "{{package_name}}" / "runtime"
    dockerfile = files / "Dockerfile.jinja"
    dockerfile.write_text(dockerfile.read_text().replace("python:3.12", "python:3.13"))
    readme = files / "README.md.jinja"
    readme.write_text("> Updated for platform release 1.1.\n\n" + readme.read_text())
    server = runtime / "server.py"
    server.write_text(server.read_text() + "\n\ndef banner() -> str:\n    return 'svc 1.1'\n")
    (runtime / "tracing.py").write_text('"""Tracing hooks (new in 1.1)."""\n\nENABLED = False\n')
    (runtime / "retry.py").rename(runtime / "retries.py")
    (files / ".hadolint.yaml").unlink(missing_ok=True)
    commit(template, "v1.1.0")
    run("git", "tag", "v1.1.0", cwd=template)
    return template


def local_edits(project: Path) -> None:
    app = next(project.glob("src/*/app.py"))
    app.write_text(app.read_text() + "\n# local: team-specific wiring\n")
    readme = project / "README.md"
    readme.write_text(readme.read_text() + "\n## Team notes\n\nOn call: #bench.\n")
    commit(project, "local edits")


def make_projects(root: Path, template: Path) -> tuple[Path, Path]:
    run(
        BIN / "svc",
        "new",
        "bench-svc",
        "--template",
        template,
        "--ref",
        "v1.0.0",
        "--defaults",
        "--output-dir",
        root / "svc",
        *ANSWERS,
    )
    by_svc = root / "svc" / "bench-svc"
    by_copier = root / "copier" / "bench-svc"
    run(
        BIN / "copier",
        "copy",
        "--defaults",
        "--quiet",
        "--vcs-ref",
        "v1.0.0",
        *ANSWERS,
        template,
        by_copier,
    )
    run("git", "init", "-q", cwd=by_copier)
    commit(by_copier, "generated")
    for project in (by_svc, by_copier):
        local_edits(project)
    return by_svc, by_copier


def shallow_clone(project: Path, dest: Path) -> Path:
    """A depth-1 clone: no svc/template, no render in its history, as `actions/checkout` makes."""
    run("git", "clone", "-q", "--depth", "1", f"file://{project}", dest)
    return dest


def svc_update(project: Path, svc: Path = BIN / "svc", prefix: tuple[str, ...] = ()) -> Callable[[], None]:
    return lambda: run(*prefix, svc, "update", project, "--defaults")


def cold_cache(root: Path) -> tuple[tuple[str, ...], Callable[[], None]]:
    """A command prefix that runs svc with caches of its own, and what empties them (untimed):
    svc as on a machine that never used the template (no kept checkout, nothing compiled)."""
    cache = root / "cold-cache"
    return ("env", f"XDG_CACHE_HOME={cache}"), lambda: shutil.rmtree(cache, ignore_errors=True)


def copier_update(project: Path) -> Callable[[], None]:
    return lambda: run(BIN / "copier", "update", "--defaults", "--quiet", project)


def reset_svc(project: Path) -> None:
    run(BIN / "svc", "update", "--abort", project)


def reset_copier(project: Path) -> None:
    run("git", "reset", "-q", "--hard", cwd=project)
    run("git", "clean", "-q", "-fd", cwd=project)


def timed(action: Callable[[], None]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def medians(
    contenders: dict[str, tuple[Callable[[], None], Callable[[], None]]], rounds: int
) -> dict[str, float]:
    """Run each (action, reset) once to warm up, then `rounds` times in rotating order, the
    reset untimed; print and return each action's median."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for i in range(rounds + 1):
        names = list(contenders)
        for name in names[i % len(names) :] + names[: i % len(names)]:
            action, reset = contenders[name]
            elapsed = timed(action)
            reset()
            if i > 0:  # round 0 warms caches and imports
                times[name].append(elapsed)
    found = {name: statistics.median(values) for name, values in times.items()}
    for name, values in times.items():
        shown = " ".join(f"{v:.2f}" for v in values)
        print(f"{name:30} median {found[name]:.2f}s  (rounds: {shown})")
    return found


def isolate(root: Path) -> None:
    """A fresh CI machine's git: fixed identity, no user config."""
    home = root / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n")
    os.environ.update(
        {
            "HOME": str(home),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "GIT_CONFIG_GLOBAL": str(home / ".gitconfig"),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": "Bench",
            "GIT_AUTHOR_EMAIL": "b@example.com",
            "GIT_COMMITTER_NAME": "Bench",
            "GIT_COMMITTER_EMAIL": "b@example.com",
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds (at least 5)")
    rounds = max(5, parser.parse_args().rounds)
    with tempfile.TemporaryDirectory(prefix="svc-bench-") as tmp:
        root = Path(tmp)
        isolate(root)
        by_svc, by_copier = make_projects(root, make_template(root))
        shallow = shallow_clone(by_svc, root / "shallow" / "bench-svc")
        contenders = {
            "svc update": (svc_update(by_svc), lambda: reset_svc(by_svc)),
            "svc re-render": (svc_update(shallow), lambda: reset_svc(shallow)),
            "copier update": (copier_update(by_copier), lambda: reset_copier(by_copier)),
        }
        found = medians(contenders, rounds)
        for name in ("svc update", "svc re-render"):
            ratio = found[name] / found["copier update"]
            print(f"{name} / copier update: {ratio:.2f}")


if __name__ == "__main__":
    main()
