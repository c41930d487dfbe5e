"""Real etcd processes for tests: one member or a cluster of three, on loopback only.

Every member listens on 127.0.0.1 ports picked free at start, keeps its data in its own
temporary directory, and is SIGKILLed at teardown whatever the test did. Also here: a
way to import the template's runtime package (registry backends, smart client) as the
generated service would, without rendering the template.
"""

from __future__ import annotations

import importlib
import os
import shutil
import signal
import subprocess
import sys
import types
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from helpers import free_port, wait_until

ETCD = shutil.which("etcd") or "/usr/bin/etcd"
LOOPBACK = "127.0.0.1"
REPO = Path(__file__).resolve().parent.parent
RUNTIME_SOURCE = REPO / "templates" / "python-service" / "template" / "src" / "{{package_name}}" / "runtime"


@dataclass
class EtcdMember:
    name: str
    client_port: int
    peer_port: int
    data_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def client_url(self) -> str:
        return f"http://{LOOPBACK}:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://{LOOPBACK}:{self.peer_port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, initial_cluster: str, token: str) -> None:
        # Short heartbeat and election timeouts: a killed leader is replaced quickly.
        args = [
            ETCD,
            f"--name={self.name}",
            f"--data-dir={self.data_dir}",
            f"--listen-client-urls={self.client_url}",
            f"--advertise-client-urls={self.client_url}",
            f"--listen-peer-urls={self.peer_url}",
            f"--initial-advertise-peer-urls={self.peer_url}",
            f"--initial-cluster={initial_cluster}",
            f"--initial-cluster-token={token}",
            "--initial-cluster-state=new",
            "--heartbeat-interval=50",
            "--election-timeout=500",
            "--logger=zap",
            "--log-level=warn",
        ]
        log = self.log_path.open("ab")
        try:
            self.process = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        finally:
            log.close()

    def healthy(self) -> bool:
        if not self.running:
            return False
        try:
            answer = httpx.get(f"{self.client_url}/health", timeout=1.0, trust_env=False)
        except httpx.HTTPError:
            return False
        return answer.status_code == 200 and answer.json().get("health") == "true"

    def kill(self) -> None:
        """SIGKILL: the member vanishes as in a crash."""
        self._signal(signal.SIGKILL)

    def stop(self) -> None:
        self._signal(signal.SIGTERM)

    def _signal(self, signum: int) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signum)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


@dataclass
class EtcdCluster:
    members: list[EtcdMember]
    token: str = field(default_factory=lambda: f"svc-test-{uuid.uuid4().hex[:8]}")

    @property
    def endpoints(self) -> list[str]:
        return [member.client_url for member in self.members]

    @property
    def registry_url(self) -> str:
        """The value of SVC_REGISTRY_URL that names this cluster."""
        return "etcd://" + ",".join(f"{LOOPBACK}:{m.client_port}" for m in self.members)

    @property
    def initial_cluster(self) -> str:
        return ",".join(f"{m.name}={m.peer_url}" for m in self.members)

    def start(self, timeout: float = 30.0) -> None:
        for member in self.members:
            if not member.running:
                member.start(self.initial_cluster, self.token)
        self.wait_healthy(timeout)

    def start_member(self, member: EtcdMember, timeout: float = 30.0) -> None:
        member.start(self.initial_cluster, self.token)
        wait_until(member.healthy, f"etcd member {member.name} to be healthy", timeout=timeout)

    def wait_healthy(self, timeout: float = 30.0) -> None:
        for member in self.members:
            if member.process is not None and member.process.poll() is not None:
                raise AssertionError(f"etcd {member.name} exited: {self.log_tail(member)}")
            wait_until(member.healthy, f"etcd member {member.name} to be healthy", timeout=timeout)

    def kill_all(self) -> None:
        for member in self.members:
            member.kill()

    def log_tail(self, member: EtcdMember, lines: int = 20) -> str:
        try:
            return "\n".join(member.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def plan_cluster(root: Path, size: int = 1) -> EtcdCluster:
    """A cluster of ``size`` members with ports and data dirs assigned, not yet started."""
    members = []
    for index in range(size):
        name = f"m{index}"
        base = root / f"etcd-{name}"
        base.mkdir(parents=True, exist_ok=True)
        members.append(EtcdMember(name, free_port(), free_port(), base / "data", base / "etcd.log"))
    return EtcdCluster(members)


@contextmanager
def etcd_cluster(root: Path, size: int = 1, *, start: bool = True) -> Iterator[EtcdCluster]:
    """Run an etcd cluster for the duration of the block; killed and removed afterwards.

    A free port can be taken by another process between picking and binding it (pytest
    -n runs several workers), so a start that fails is tried again on fresh ports.
    """
    cluster = plan_cluster(root / uuid.uuid4().hex[:8], size)
    try:
        if start:
            cluster = _start_with_retries(root, size, cluster)
        yield cluster
    finally:
        cluster.kill_all()
        for member in cluster.members:
            shutil.rmtree(member.data_dir, ignore_errors=True)


def _start_with_retries(root: Path, size: int, cluster: EtcdCluster) -> EtcdCluster:
    for _ in range(2):
        try:
            cluster.start()
            return cluster
        except AssertionError:
            cluster.kill_all()
            cluster = plan_cluster(root / uuid.uuid4().hex[:8], size)
    cluster.start()
    return cluster


def import_runtime(root: Path, package: str = "svc_under_test") -> types.ModuleType:
    """Import the template's ``runtime`` package from a copy under ``root``.

    The runtime uses only relative imports, so it works under any parent package; the
    copy is made so that no ``__pycache__`` lands in the template.
    """
    name = f"{package}.runtime"
    if name in sys.modules:
        return sys.modules[name]
    parent = root / package
    shutil.copytree(RUNTIME_SOURCE, parent / "runtime", dirs_exist_ok=True)
    init = parent / "__init__.py"
    if not init.exists():
        init.write_text("")
    sys.path.insert(0, str(root))
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    return importlib.import_module(name)


def make_instance(
    runtime: types.ModuleType,
    service: str,
    name: str,
    *,
    realm: str = "dev",
    port: int = 9,
    version: str = "1.2.3",
) -> object:
    """A registry entry as a service on loopback `port` would register it."""
    return runtime.registry.Instance(
        service=service,
        realm=realm,
        instance=name,
        address="127.0.0.1",
        port=port,
        url=f"http://127.0.0.1:{port}",
        version=version,
        started_at="2026-01-01T00:00:00Z",
    )
