"""Helpers to render service templates, install what they generate, and run it as a real server.

Installing a generated service's dependencies takes a minute, so `service_venv()` keeps one
virtual environment per dependency set under `<repo>/.cache/test-venvs/` and reuses it across
runs and pytest-xdist workers. `install_service()` then gives each rendered project a small
venv of its own layered on that cache, so projects with the same package name never collide.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
from helpers import wait_until

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = REPO_ROOT / "templates"
VENV_CACHE = REPO_ROOT / ".cache" / "test-venvs"


def render_template(template: Path, dst: Path, answers: Mapping[str, object]) -> Path:
    """Render a copier template as `svc new` would without --trust; return `dst`."""
    import copier

    copier.run_copy(str(template), dst, data=dict(answers), defaults=True, unsafe=False, quiet=True)
    return dst


# A generated service installs its dependencies from this lock file (with hashes), as its README does.
DEV_LOCK = "requirements-dev.txt"


@dataclass(frozen=True)
class Dependencies:
    """What a project's test venv needs: its dev lock file, if it has one, and loose requirements."""

    lock: str | None  # the text of the lock file, installed with --require-hashes
    requirements: tuple[str, ...]  # installed as they are, in a second pip call


def project_dependencies(pyproject: Path, extra: tuple[str, ...] = ()) -> Dependencies:
    """The lock file beside `pyproject` plus its build requirements, or, when it has no lock file,
    its build requirements, runtime dependencies and `dev` group; `extra` in either case."""
    data = tomllib.loads(pyproject.read_text())
    build = data.get("build-system", {}).get("requires", [])
    lock = pyproject.parent / DEV_LOCK
    if lock.is_file():
        # install_service() builds the project without isolation, so the build backend joins it.
        return Dependencies(lock.read_text(), tuple(sorted({*build, *extra})))
    requirements = [
        *build,
        *data.get("project", {}).get("dependencies", []),
        *data.get("dependency-groups", {}).get("dev", []),
        *data.get("project", {}).get("optional-dependencies", {}).get("dev", []),
        *extra,
    ]
    return Dependencies(None, tuple(sorted(set(requirements))))


@dataclass(frozen=True)
class Pin:
    """One package of a lock file: its exact version and the hashes pip checks it against."""

    version: str
    hashes: tuple[str, ...]


def locked_pins(lock: Path) -> dict[str, Pin]:
    """The pins of a hashed requirements file (`uv pip compile --generate-hashes`), by canonical name."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    pins: dict[str, Pin] = {}
    # A pin and its --hash options are one logical line, continued with backslashes.
    for line in lock.read_text().replace("\\\n", " ").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        words = line.split(" --hash=")
        requirement = Requirement(words[0].strip())
        (specifier,) = requirement.specifier
        hashes = tuple(word.strip() for word in words[1:])
        pins[canonicalize_name(requirement.name)] = Pin(specifier.version, hashes)
    return pins


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def service_venv(pyproject: Path, *, extra: tuple[str, ...] = ()) -> Path:
    """A cached venv holding the dependencies of the project `pyproject` describes (not the project).

    Keyed by a hash of the dependencies and the interpreter; built once under a file lock, so
    parallel workers wait for the first instead of building their own.
    """
    dependencies = project_dependencies(pyproject, extra)
    key_source = json.dumps(
        [dependencies.lock, dependencies.requirements, sys.version, sysconfig.get_platform()]
    )
    key = hashlib.sha256(key_source.encode()).hexdigest()[:16]
    venv = VENV_CACHE / key
    VENV_CACHE.mkdir(parents=True, exist_ok=True)
    with _file_lock(VENV_CACHE / f"{key}.lock"):
        if (venv / ".complete").exists():
            return venv
        # Built in place (scripts name their venv by absolute path); the marker says it finished.
        shutil.rmtree(venv, ignore_errors=True)
        run_checked([sys.executable, "-m", "venv", str(venv)])
        pip = [str(venv_python(venv)), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        run_checked([*pip, "--upgrade", "pip"])
        if dependencies.lock is not None:
            (venv / DEV_LOCK).write_text(dependencies.lock)
            run_checked([*pip, "--require-hashes", "-r", str(venv / DEV_LOCK)])
        run_checked([*pip, *dependencies.requirements])
        (venv / ".complete").write_text(key_source)
    return venv


def install_with_its_dependencies(project: Path, venv: Path) -> Path:
    """`install_service` on the cached venv of `project`'s own dependencies. Returns its python."""
    return install_service(project, service_venv(project / "pyproject.toml"), venv)


def install_service(project: Path, base_venv: Path, venv: Path) -> Path:
    """Make `venv`: `base_venv`'s packages plus `project` (built as a wheel). Returns its python.

    Takes a few seconds: nothing is downloaded, the project is built with the base's hatchling.
    """
    run_checked([str(venv_python(base_venv)), "-m", "venv", "--without-pip", str(venv)])
    python = venv_python(venv)
    site = _site_packages(python)
    base_site = _site_packages(venv_python(base_venv))
    # `import` lines of a .pth file run at start-up: addsitedir also reads the base's own .pth files.
    (site / "_base_venv.pth").write_text(f"import site; site.addsitedir({str(base_site)!r})\n")
    run_checked(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            str(project),
        ],
    )
    return python


def run_checked(
    command: list[str], *, cwd: Path | None = None, env: Mapping[str, str] | None = None, timeout: float = 600
) -> str:
    """Run `command`; return its output, or raise AssertionError showing the output when it fails."""
    done = subprocess.run(
        command,
        cwd=cwd,
        env=None if env is None else {**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    output = done.stdout + done.stderr
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(command)} exited {done.returncode}:\n{output}")
    return output


def http_status(url: str) -> int | None:
    """The status code of GET `url`, or None when nothing answers."""
    try:
        return httpx.get(url, timeout=5).status_code
    except httpx.TransportError:
        return None


@dataclass
class ServiceProcess:
    """A service started by `start_service`; `stop()` or `kill()` it (the fixture always does)."""

    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Send `sig` and wait for the exit code; kill after `timeout` s."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()

    def log_lines(self) -> list[dict[str, object]]:
        """Every JSON line the service wrote to stdout or stderr so far."""
        lines = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                lines.append(json.loads(line))
        return lines


def start_service(
    command: list[str],
    *,
    port: int,
    env: Mapping[str, str],
    log_path: Path,
    cwd: Path | None = None,
    ready_path: str = "/livez",
    timeout: float = 30.0,
) -> ServiceProcess:
    """Start `command` with HOST=127.0.0.1 and PORT=`port`, and wait until `ready_path` answers 200."""
    full_env = {**os.environ, **env, "HOST": "127.0.0.1", "PORT": str(port)}
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, env=full_env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
    service = ServiceProcess(process, f"http://127.0.0.1:{port}", log_path)
    try:
        wait_until(
            lambda: process.poll() is not None or http_status(service.base_url + ready_path) == 200,
            f"{command} to answer on port {port}",
            timeout=timeout,
        )
        if process.poll() is not None:
            raise AssertionError(f"{command} exited {process.returncode}:\n{log_path.read_text()}")
    except BaseException:
        service.kill()
        raise
    return service


@contextlib.contextmanager
def running_service(command: list[str], **kwargs: object) -> Iterator[ServiceProcess]:
    """`start_service` as a context manager that kills the process on the way out, whatever happens."""
    service = start_service(command, **kwargs)  # type: ignore[arg-type]
    try:
        yield service
    finally:
        service.kill()


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _site_packages(python: Path) -> Path:
    out = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    )
    return Path(out.stdout.strip())
