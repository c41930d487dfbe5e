"""`svc template init` and `svc template test`: write a company template, and test one.

`init` writes a copier template (optionally layered on another, pinned at that template's
newest version) as a git repository with one commit tagged v0.1.0, all or nothing: it is
built beside the target and renamed into place.

`test` renders a template with its manifest's sample answers, as `svc new` would, and runs
the manifest's `test_command` in the result. A local repository is tested as its work tree
stands, uncommitted edits included, since that is what its author (or CI) means to test.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import git, names, provenance, sources, template_skeleton
from .errors import InputError, UnsafeTemplateError
from .render import layers as layering
from .render.manifest import read_manifest

FIRST_VERSION = "v0.1.0"
DEFAULT_TEST_COMMAND = "python3 -m pytest -q"
# The built-in base's tests need its dependencies: a venv of the project's own.
BUILTIN_TEST_COMMAND = (
    "python3 -m venv .venv && .venv/bin/python -m pip install --quiet --upgrade pip "
    "&& .venv/bin/python -m pip install --quiet -e . --group dev "
    "&& .venv/bin/python -m pytest -q -p no:cacheprovider"
)
TEST_TIMEOUT = 1800.0
SAMPLE_SERVICE = "sample-service"
_NAME = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
_TAIL_LINES = 80


@dataclass(frozen=True)
class InitResult:
    path: Path
    version: str
    commit: str
    base: provenance.Layer | None


def init_template(name: str, extends: str | None, output_dir: Path) -> InitResult:
    """Write the company template `output_dir/name`; raise ScaffoldError, leaving nothing."""
    if not _NAME.match(name) or len(name) > 63:
        raise InputError(
            f"'{name}' is not a usable template name; use lower-case letters, digits and single "
            "hyphens, starting with a letter (e.g. acme-service)."
        )
    target = output_dir.resolve() / name
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise InputError(f"{target} already exists and is not empty; choose another name or --output-dir.")
    chain = layering.resolve_chain(sources.resolve(sources.parse(extends))) if extends else []
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.svc-", dir=target.parent))
    try:
        tree = staging / name
        for rel, text in _files(name, chain).items():
            (tree / rel).parent.mkdir(parents=True, exist_ok=True)
            (tree / rel).write_text(text)
        commit = _commit_and_tag(tree)
        if target.exists():
            target.rmdir()
        tree.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    base = layering.recorded_layer(chain[-1], "copier") if chain else None
    return InitResult(target, FIRST_VERSION, commit, base)


def _files(name: str, chain: list[sources.Resolved]) -> dict[str, str]:
    """The template's files, by path; `chain` is what it extends, base first (or nothing)."""
    slug = name.replace("-", "_")
    files = {
        "svc-template.yml": template_skeleton.MANIFEST.replace("@EXTENDS@", _extends_text(chain)),
        "template/{{ _copier_conf.answers_file }}.jinja": template_skeleton.ANSWERS_FILE,
        "template/SUPPORT.md.jinja": template_skeleton.SUPPORT,
        f"template/tests/test_{slug}_layer.py.jinja": template_skeleton.OVERLAY_TEST,
        ".github/workflows/template.yml": template_skeleton.WORKFLOW,
        ".gitignore": template_skeleton.GITIGNORE,
        "README.md": template_skeleton.README.replace("@EXTENDS_NOTE@", _extends_note(chain)),
    }
    if chain:
        asked = layers_questions(chain)
        override = template_skeleton.OWNER_OVERRIDE if "owner" in asked else ""
        files["copier.yml"] = template_skeleton.COPIER_LAYER.replace("@OVERRIDE@", override)
    else:
        files["copier.yml"] = template_skeleton.COPIER_STANDALONE
        files["template/README.md.jinja"] = template_skeleton.SERVICE_README
    return {
        rel: text.replace("@TEST_COMMAND@", default_test_command(chain))
        .replace("@NAME@", name)
        .replace("@SLUG@", slug)
        for rel, text in files.items()
    }


def default_test_command(chain: list[sources.Resolved]) -> str:
    """The built-in base's tests need its dependencies installed; other projects get pytest."""
    return BUILTIN_TEST_COMMAND if chain and chain[0].source.is_builtin else DEFAULT_TEST_COMMAND


def layers_questions(chain: list[sources.Resolved]) -> set[str]:
    """Every question the templates of `chain` ask."""
    asked: set[str] = set()
    for resolved in chain:
        with sources.materialize(resolved) as template_dir:
            asked |= set(layering.questions(template_dir))
    return asked


def _extends_text(chain: list[sources.Resolved]) -> str:
    if not chain:
        return "# extends: {source: SRC, ref: VERSION}   # to layer this template on another\n"
    top = chain[-1]
    # A built-in base is pinned by the svc that runs; its version is recorded for readers.
    # A repository without release tags is pinned to its commit, not to a moving HEAD.
    ref = top.version if top.source.is_builtin else (top.ref if top.ref != "HEAD" else top.commit)
    text = template_skeleton.EXTENDS.replace("@BASE@", top.source.location)
    if ref is None:  # a plain folder has no versions to pin
        return "".join(line for line in text.splitlines(keepends=True) if "@BASE_REF@" not in line)
    return text.replace("@BASE_REF@", ref)


def _extends_note(chain: list[sources.Resolved]) -> str:
    if not chain:
        return ""
    top = chain[-1]
    return (
        f" It extends `{top.source.location}` (at {top.version or top.ref}): it adds and "
        "overrides files and questions."
    )


def _commit_and_tag(tree: Path) -> str:
    git.run("init", "--quiet", "--initial-branch", "main", cwd=tree)
    ident = git.identity(tree)
    if not ident.configured:
        ident = git.Identity(git.FALLBACK_NAME, git.FALLBACK_EMAIL, False)
    git.run("add", "--all", cwd=tree)
    message = "Start the template with svc template init"
    git.run("commit", "--quiet", "--no-verify", "--no-gpg-sign", "-m", message, cwd=tree, env=ident.env())
    git.run("tag", FIRST_VERSION, cwd=tree, env=ident.env())
    return git.out("rev-parse", "HEAD", cwd=tree)


# --- template test -------------------------------------------------------------------------


@dataclass(frozen=True)
class TemplateTestResult:
    passed: bool
    command: str
    # The last lines of what the command printed (stdout and stderr together).
    output: str
    layers: tuple[provenance.Layer, ...]
    returncode: int | None


def test_template(
    spec: str, cwd: Path | None = None, timeout: float = TEST_TIMEOUT, trust: bool = False
) -> TemplateTestResult:
    """Render the template `spec` with its sample answers and run its test command there.

    That runs the template's code (its tests, its project's build): a local folder or
    repository is its author at work; any other source needs `trust`.
    """
    top = _as_work_tree(sources.parse(spec, cwd))
    if top.remote and not trust:
        raise UnsafeTemplateError(
            f"svc template test runs the tests of what {top.location} generates, which is the "
            "template's code; read it, then pass --trust if you trust it."
        )
    chain = layering.resolve_chain(sources.resolve(top))
    with sources.materialize(chain[-1]) as template_dir:
        manifest = read_manifest(template_dir, top.location)
    answers = dict(manifest.sample_answers)
    name = names.validate_service_name(str(answers.pop("service_name", SAMPLE_SERVICE)))
    command = manifest.test_command or default_test_command(chain)
    with tempfile.TemporaryDirectory(prefix="svc-template-test-") as tmp:
        project = Path(tmp) / name
        project.mkdir()
        prov = layering.render_chain(chain, project, name, answers, interactive=False, trust=trust)
        provenance.save(project, prov)
        code, output = _run(command, project, timeout)
    return TemplateTestResult(code == 0, command, _tail(output), prov.layers, code)


# pytest would otherwise collect the function above as a test of this module's importers.
test_template.__test__ = False  # type: ignore[attr-defined]


def _as_work_tree(source: sources.TemplateSource) -> sources.TemplateSource:
    """A local repository as its work tree, not its newest tag."""
    if source.kind == "git" and not source.remote and (Path(source.location) / ".git").exists():
        return sources.TemplateSource("directory", source.location)
    return source


def _run(command: str, project: Path, timeout: float) -> tuple[int | None, str]:
    """Run the template's own command line (its code: the user asked for it) in a process
    group of its own, so a timeout or Ctrl-C stops what it started too (pip, servers)."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    # The template declares one shell command line, so a shell runs it.
    with subprocess.Popen(  # noqa: S602
        command,
        shell=True,
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    ) as proc:
        try:
            output, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            output, _ = proc.communicate()
            return None, f"{output.decode(errors='replace')}\n(stopped after {timeout:.0f} seconds)"
        except BaseException:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
    return proc.returncode, output.decode(errors="replace")


def _tail(output: str) -> str:
    lines = output.rstrip().splitlines()
    return "\n".join(lines[-_TAIL_LINES:])
