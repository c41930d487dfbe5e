"""Benchmark: `svc fleet update` with 2 jobs, with 1 job, and a serial loop of `copier update`.

A small copier template (a README, a Dockerfile, a module, an answers file) is tagged
v1.0.0 and v2.0.0 (a new base image and a new file). One service is made from v1.0.0 with
`svc new` and copied N times (copies share history, as real services made from one
template do); each copy also carries a local commit. For each fleet size the three ways
run over fresh copies of the same fleet, in rotating order (untimed copying between runs),
as CLI processes, startup included:

- `svc fleet update FLEET --jobs 2` and `--jobs 1`: each service updated on its own branch;
- `copier update --defaults --vcs-ref v2.0.0` in each service, one after the other (copier
  leaves the update uncommitted, so it does a little less work than svc).

Prints seconds per run, seconds per service (flat when the cost is linear), and the
ratios jobs 1 / jobs 2 (target ≥ 1.6 on 2 cores) and copier loop / jobs 2 (target ≥ 3).

    .venv/bin/python benchmarks/bench_fleet.py [--sizes 20 50 100] [--rounds 1] [--builtin] [--svc-only]

With --builtin the template is the built-in python-service in a git repository, v1.0.0 and a
realistic v1.1.0 (see bench_update.py). With --svc-only the copier loop is left out (it takes
about 3 s per service), to see whether svc's time per service stays flat up to large fleets.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

BIN = Path(sys.executable).parent
V1 = {
    "copier.yml": (
        "_templates_suffix: .jinja\nservice_name:\n  type: str\nport:\n  type: int\n  default: 8000\n"
    ),
    "{{_copier_conf.answers_file}}.jinja": "{{ _copier_answers|to_nice_yaml }}",
    "README.md.jinja": (
        "# {{ service_name }}\n\nListens on {{ port }}.\n\n## Support\n\nAsk the platform team.\n"
    ),
    "Dockerfile.jinja": "FROM python:3.12-slim\nWORKDIR /srv\nCOPY . .\nEXPOSE {{ port }}\n",
    "app/main.py.jinja": "PORT = {{ port }}\n\n\ndef serve() -> None:\n    print('serving', PORT)\n",
}


def run(*cmd: str | Path, cwd: Path | None = None, ok: tuple[int, ...] = (0,)) -> None:
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode not in ok:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed ({done.returncode}):\n{done.stdout}{done.stderr}")


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def commit(repo: Path, message: str) -> None:
    run("git", "add", "-A", cwd=repo)
    run("git", "commit", "-q", "-m", message, cwd=repo)


def make_template(root: Path) -> Path:
    template = root / "template"
    template.mkdir()
    run("git", "init", "-q", cwd=template)
    write(template, V1)
    commit(template, "v1")
    run("git", "tag", "v1.0.0", cwd=template)
    write(template, {"Dockerfile.jinja": V1["Dockerfile.jinja"].replace("3.12", "3.13"), "NOTICE": "v2\n"})
    commit(template, "v2")
    run("git", "tag", "v2.0.0", cwd=template)
    return template


def builtin_template(root: Path) -> Path:
    from bench_update import make_template as builtin_versions

    return builtin_versions(root)


def make_service(root: Path, template: Path) -> Path:
    out = root / "made"
    run(BIN / "svc", "new", "bench-svc", "--template", template, "--ref", "v1.0.0", "-o", out, "--defaults")
    service = out / "bench-svc"
    readme = service / "README.md"
    readme.write_text(readme.read_text() + "\n## Team notes\n\nOn call: #bench.\n")
    commit(service, "local edits")
    return service


def make_fleet(service: Path, dest: Path, size: int) -> Path:
    if dest.exists():
        shutil.rmtree(dest)
    for i in range(size):
        shutil.copytree(service, dest / f"svc-{i:03d}", symlinks=True)
    return dest


def fleet_update(jobs: int) -> Callable[[Path], None]:
    def go(fleet: Path) -> None:
        run(BIN / "svc", "fleet", "update", fleet, "--jobs", str(jobs))

    return go


def copier_loop(newest: str) -> Callable[[Path], None]:
    def go(fleet: Path) -> None:
        for service in sorted(fleet.iterdir()):
            run(BIN / "copier", "update", "--defaults", "--vcs-ref", newest, service, cwd=service)

    return go


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 50, 100])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--builtin",
        action="store_true",
        help="the built-in template (v1.0.0 -> v1.1.0, as bench_update makes it)",
    )
    parser.add_argument(
        "--svc-only",
        action="store_true",
        help="time svc alone (a large fleet's copier loop takes long); prints seconds per service",
    )
    args = parser.parse_args()
    ways: dict[str, Callable[[Path], None]] = {
        "fleet --jobs 2": fleet_update(2),
        "fleet --jobs 1": fleet_update(1),
    }
    if not args.svc_only:
        ways["copier update loop"] = copier_loop("v1.1.0" if args.builtin else "v2.0.0")
    with tempfile.TemporaryDirectory(prefix="svc-bench-fleet-") as tmp:
        root = Path(tmp)
        service = make_service(root, builtin_template(root) if args.builtin else make_template(root))
        print(f"{'size':>5} {'way':<20} {'seconds':>8} {'s/service':>10}")
        for size in args.sizes:
            times: dict[str, list[float]] = {name: [] for name in ways}
            names = list(ways)
            for round_ in range(args.rounds):
                # Rotate the order each round so no way always runs first (or on a warm cache).
                for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
                    fleet = make_fleet(service, root / "fleet", size)
                    start = time.perf_counter()
                    ways[name](fleet)
                    times[name].append(time.perf_counter() - start)
            medians = {name: statistics.median(t) for name, t in times.items()}
            for name, seconds in medians.items():
                print(f"{size:>5} {name:<20} {seconds:>8.2f} {seconds / size:>10.3f}")
            fast = medians["fleet --jobs 2"]
            if args.svc_only:
                continue
            print(
                f"{size:>5} ratios: jobs1/jobs2 {medians['fleet --jobs 1'] / fast:.2f} (target 1.6), "
                f"copier/jobs2 {medians['copier update loop'] / fast:.2f} (target 3)",
                flush=True,
            )


if __name__ == "__main__":
    main()
