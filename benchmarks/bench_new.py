"""Time `svc --help` against `copier --help`, and `svc new` against `copier copy`.

Run by hand: `python benchmarks/bench_new.py [--runs 7]`. Every command runs once as a
warm-up, then the commands take turns (interleaved) for --runs rounds; the script prints
each median and the ratios. The template is the built-in one, rendered by both tools into
empty folders; `svc new` is timed with and without its git repository and first commit, and
against `copier copy` followed by `git init`, `git add -A` and `git commit` (what svc new does).
"floor" is what svc new cannot go below while copier renders: Python importing svc's CLI and
copier (as svc imports it), then `git init`, `git add -A` and `git commit` of the same files.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "templates" / "python-service"
BIN = Path(sys.executable).parent


def timed(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    work = Path(tempfile.mkdtemp(prefix="bench-new-"))
    counter = iter(range(10**6))

    def fresh() -> Path:
        path = work / f"out{next(counter)}"
        path.mkdir()
        return path

    commands = {
        "svc --help": lambda: [str(BIN / "svc"), "--help"],
        "copier --help": lambda: [str(BIN / "copier"), "--help"],
        "svc new": lambda: [str(BIN / "svc"), "new", "billing", "--defaults", "-o", str(fresh())],
        "svc new --no-git": lambda: [
            str(BIN / "svc"),
            "new",
            "billing",
            "--defaults",
            "--no-git",
            "-o",
            str(fresh()),
        ],
        "copier copy": lambda: [
            str(BIN / "copier"),
            "copy",
            "--defaults",
            "--quiet",
            "-d",
            "service_name=billing",
            str(TEMPLATE),
            str(fresh() / "billing"),
        ],
        # What svc new does, done with copier: the project and its first commit.
        "copier copy + git": lambda: [
            "sh",
            "-c",
            'copier="$1"; dest="$2"; template="$3"; '
            '"$copier" copy --defaults --quiet -d service_name=billing "$template" "$dest" && cd "$dest" && '
            "git init -q && git add -A && git commit -q -m generated",
            "sh",
            str(BIN / "copier"),
            str(fresh() / "billing"),
            str(TEMPLATE),
        ],
    }
    # What no svc new can go below while copier renders: Python importing what svc needs
    # (copier included), then git making the first commit of the same files, rendered untimed.
    rendered = work / "rendered"
    subprocess.run(
        [str(BIN / "svc"), "new", "billing", "--defaults", "--no-git", "-o", str(rendered)],
        check=True,
        capture_output=True,
    )

    def rendered_copy() -> Path:
        return Path(shutil.copytree(rendered / "billing", fresh() / "billing"))

    imports = (
        "import scaffold.cli, scaffold.generate; "
        "from scaffold.render import copier_engine; copier_engine.import_copier()"
    )
    commands["floor"] = lambda: [
        "sh",
        "-c",
        '"$1" -c "$2" && cd "$3" && git init -q && git add -A && git commit -q -m generated',
        "sh",
        sys.executable,
        imports,
        str(rendered_copy()),
    ]
    samples: dict[str, list[float]] = {name: [] for name in commands}
    try:
        for make in commands.values():
            timed(make(), work)  # warm-up
        for _ in range(runs):
            for name, make in commands.items():
                samples[name].append(timed(make(), work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    med = {name: statistics.median(values) * 1000 for name, values in samples.items()}
    print(
        f"{'command':<20} {'median ms':>10}   "
        f"({runs} interleaved runs after a warm-up, {os.cpu_count()} CPUs)"
    )
    for name, value in med.items():
        print(f"{name:<20} {value:>10.0f}")
    print(
        f"svc --help / copier --help      = {med['svc --help'] / med['copier --help']:.2f}  (target <= 0.33)"
    )
    print(f"svc new / copier copy           = {med['svc new'] / med['copier copy']:.2f}  (target <= 1.0)")
    print(f"svc new --no-git / copier copy  = {med['svc new --no-git'] / med['copier copy']:.2f}")
    with_git = med["svc new"] / med["copier copy + git"]
    print(f"svc new / (copier copy + git)   = {with_git:.2f}  (target <= 0.4)")
    floor = med["floor"] / med["copier copy + git"]
    print(
        f"floor / (copier copy + git)     = {floor:.2f}  (svc's imports and git's first commit, no rendering)"
    )


if __name__ == "__main__":
    main()
