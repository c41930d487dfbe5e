"""Benchmark: rendering a big template, per file, against cookiecutter and copier.

A 1,000-file template (20 folders of 50 small modules, each naming two answers) is written
in both formats. In one run, side by side, in rotating order:

- making a project: `svc new --no-git` from each format, `cookiecutter` and `copier copy`;
- updating one: v2 changes 100 of the files; `svc update` in a service made by svc (with a
  local commit) against `copier update` in a project made by copier and `cruft update` in
  one made by cruft from the cookiecutter twin (same local commit), each put back between
  rounds (untimed). svc also runs with its caches emptied before each round (untimed): as on
  a machine that never used the template.

Prints the median of the timed rounds after one warm-up round, and the ratios.

    .venv/bin/python benchmarks/bench_render.py [--rounds 5] [--baseline /path/to/older/svc]

With --baseline, an older svc (installed in a venv of its own) is timed beside this one on
the same template and the same service.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench_update import (
    BIN,
    cold_cache,
    commit,
    copier_update,
    isolate,
    medians,
    reset_copier,
    reset_svc,
    run,
    svc_update,
)

FOLDERS, MODULES, CHANGED = 20, 50, 100
SVC_NEW = ("--ref", "v1.0.0", "--defaults", "--no-git")
COPIER_COPY = (BIN / "copier", "copy", "--defaults", "--quiet", "--vcs-ref", "v1.0.0")
MODULE = (
    '"""Module {n} of {{{{ {name} }}}}, owned by {{{{ {owner} }}}}."""\n\n'
    "VALUE = {n}\n\n\ndef f():\n    return VALUE\n"
)


def _module(n: int, version: int, prefix: str) -> str:
    text = MODULE.format(n=n, name=f"{prefix}service_name", owner=f"{prefix}owner")
    return text + ("\n\ndef g():\n    return 2\n" if version == 2 and n < CHANGED else "")


def write_template(root: Path, fmt: str, version: int) -> None:
    if fmt == "copier":
        (root / "copier.yml").write_text(
            "_templates_suffix: .jinja\nservice_name: {type: str}\nowner: {type: str, default: platform}\n"
            "_answers_file: .copier-answers.yml\n"
        )
        (root / "{{ _copier_conf.answers_file }}.jinja").write_text("{{ _copier_answers|to_nice_yaml }}")
        files, prefix, suffix = root, "", ".jinja"
    else:
        spec = {"service_name": "x", "project_slug": "{{ cookiecutter.service_name }}", "owner": "platform"}
        (root / "cookiecutter.json").write_text(json.dumps(spec))
        files, prefix, suffix = root / "{{cookiecutter.project_slug}}", "cookiecutter.", ""
    for n in range(FOLDERS * MODULES):
        path = files / f"pkg{n // MODULES}" / f"mod{n % MODULES}.py{suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_module(n, version, prefix))


def make_templates(root: Path) -> dict[str, Path]:
    templates = {}
    for fmt in ("copier", "cookiecutter"):
        template = root / f"{fmt}-template"
        template.mkdir()
        run("git", "init", "-q", cwd=template)
        for version in (1, 2):
            write_template(template, fmt, version)
            commit(template, f"v{version}")
            run("git", "tag", f"v{version}.0.0", cwd=template)
        templates[fmt] = template
    return templates


def making(
    root: Path, templates: dict[str, Path], baseline: Path | None
) -> dict[str, tuple[Callable[[], None], Callable[[], None]]]:
    out = root / "made"
    out.mkdir()
    cold, empty = cold_cache(root)

    def fresh(name: str) -> Path:
        shutil.rmtree(out / name, ignore_errors=True)
        return out / name

    def svc_new(
        name: str, fmt: str, svc: Path = BIN / "svc", prefix: tuple[str, ...] = ()
    ) -> Callable[[], None]:
        return lambda: run(
            *prefix, svc, "new", name, "-t", templates[fmt], *SVC_NEW, "-o", fresh(name).parent
        )

    def nothing() -> None:
        pass

    cookiecutter: list[str | Path] = [BIN / "cookiecutter", "--no-input", "--checkout", "v1.0.0"]
    baseline_new = (
        {"baseline svc new (copier format)": (svc_new("z", "copier", baseline), nothing)} if baseline else {}
    )
    return {
        **baseline_new,
        "svc new (copier format)": (svc_new("a", "copier"), nothing),
        "svc new (copier format, empty cache)": (svc_new("y", "copier", prefix=cold), empty),
        "svc new (cookiecutter format)": (svc_new("b", "cookiecutter"), nothing),
        "cookiecutter": (
            lambda: run(*cookiecutter, "-o", fresh("c").parent, templates["cookiecutter"], "service_name=c"),
            nothing,
        ),
        "copier copy": (
            lambda: run(*COPIER_COPY, "-d", "service_name=d", templates["copier"], fresh("d")),
            nothing,
        ),
    }


def updating(
    root: Path, templates: dict[str, Path], baseline: Path | None
) -> dict[str, tuple[Callable[[], None], Callable[[], None]]]:
    template = templates["copier"]
    run(BIN / "svc", "new", "e", "-t", template, "--ref", "v1.0.0", "--defaults", "-o", root / "svc")
    by_svc, by_copier, by_cruft = root / "svc" / "e", root / "copier" / "e", root / "cruft" / "e"
    run(*COPIER_COPY, "-d", "service_name=e", template, by_copier)
    context = json.dumps({"service_name": "e"})
    cruft_create = (BIN / "cruft", "create", "--no-input", "--checkout", "v1.0.0", "--extra-context", context)
    run(*cruft_create, "--output-dir", by_cruft.parent, templates["cookiecutter"])
    for made in (by_copier, by_cruft):
        run("git", "init", "-q", cwd=made)
        commit(made, "generated")
    for project in (by_svc, by_copier, by_cruft):
        (project / "NOTES.md").write_text("ours\n")
        commit(project, "local")

    # The baseline updates the same service; its render commits are the same, its .svc.yml may differ.
    baseline_update = (
        {"baseline svc update": (svc_update(by_svc, baseline), lambda: reset_svc(by_svc))} if baseline else {}
    )
    cold, empty = cold_cache(root)

    def reset_cold() -> None:
        reset_svc(by_svc)
        empty()

    return {
        **baseline_update,
        "svc update": (svc_update(by_svc), lambda: reset_svc(by_svc)),
        "svc update (empty cache)": (svc_update(by_svc, prefix=cold), reset_cold),
        "copier update": (copier_update(by_copier), lambda: reset_copier(by_copier)),
        "cruft update (cookiecutter format)": (
            lambda: run(BIN / "cruft", "update", "-y", "--checkout", "v2.0.0", cwd=by_cruft),
            lambda: reset_copier(by_cruft),
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (at least 5)")
    parser.add_argument("--baseline", type=Path, help="another svc executable (an older svc) to time beside")
    args = parser.parse_args()
    rounds, baseline = max(5, args.rounds), args.baseline
    with tempfile.TemporaryDirectory(prefix="svc-bench-") as tmp:
        root = Path(tmp)
        isolate(root)
        templates = make_templates(root)
        made = medians(making(root, templates, baseline), rounds)
        ours = made["svc new (copier format)"]
        print(f"svc new (copier format) / cookiecutter: {ours / made['cookiecutter']:.2f}")
        cold = made["svc new (copier format, empty cache)"]
        print(f"svc new (copier format, empty cache) / cookiecutter: {cold / made['cookiecutter']:.2f}")
        print(f"svc new (copier format) / copier copy: {ours / made['copier copy']:.2f}")
        updated = medians(updating(root, templates, baseline), rounds)
        ratio = updated["svc update"] / updated["copier update"]
        print(f"svc update / copier update ({CHANGED} files changed): {ratio:.2f}")
        cold = updated["svc update (empty cache)"] / updated["copier update"]
        print(f"svc update (empty cache) / copier update: {cold:.2f}")
        cruft = updated["cruft update (cookiecutter format)"]
        print(f"svc update / cruft update: {updated['svc update'] / cruft:.2f}")
        print(f"svc update (empty cache) / cruft update: {updated['svc update (empty cache)'] / cruft:.2f}")
        if baseline:
            print(f"svc new / baseline svc new: {ours / made['baseline svc new (copier format)']:.2f}")
            then = updated["baseline svc update"]
            print(f"svc update / baseline svc update: {updated['svc update'] / then:.2f}")


if __name__ == "__main__":
    main()
