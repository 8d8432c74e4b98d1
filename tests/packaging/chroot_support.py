"""What the package install tests share (test_deb_install.py, test_rpm_install.py): a
clean Debian 12 minbase root (debootstrap once, cached as a tarball under
target/packaging-root/) extracted per test and entered with chroot, with proc, dev, run
and tmp mounted inside; the fixture SCIM server on loopback; and the installed daemon
started as systemd would start it. The tests run as root inside a private mount namespace
(`unshare --mount --propagation private`, WB_HOST_MNT_NS set to the host's), so those
mounts vanish with the test and the host's /etc is never touched.
"""

import contextlib
import os
import select
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / "target" / "packaging-root"
TARBALL = CACHE / "debian12-minbase.tar.gz"
MIRROR = os.environ.get("WB_DEBIAN_MIRROR", "http://deb.debian.org/debian")
# alice from tests/fixture/sample-directory.json, as getent must print her.
ALICE_LINE = "alice:x:1001:1001:Alice Able:/home/alice:/bin/bash"


def run(cmd, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 600)
    return subprocess.run(cmd, **kw)


def must(cmd, **kw):
    r = run(cmd, **kw)
    assert r.returncode == 0, f"{cmd} exited {r.returncode}:\n{r.stdout}\n{r.stderr}"
    return r


def in_private_namespace():
    host = os.environ.get("WB_HOST_MNT_NS")
    return host is not None and os.readlink("/proc/self/ns/mnt") != host


def ensure_root_tarball():
    """A minbase Debian 12 root, made once with debootstrap and cached as a tarball."""
    if TARBALL.exists():
        return
    if not shutil.which("debootstrap"):
        pytest.fail("debootstrap is not installed (scripts/lib/deps.sh installs it)")
    CACHE.mkdir(parents=True, exist_ok=True)
    build = CACHE / "build"
    shutil.rmtree(build, ignore_errors=True)
    must(["debootstrap", "--variant=minbase", "bookworm", str(build), MIRROR], timeout=1800)
    partial = TARBALL.with_suffix(".partial")
    must(["tar", "-C", str(build), "--numeric-owner", "-czf", str(partial), "."])
    partial.rename(TARBALL)
    shutil.rmtree(build, ignore_errors=True)


class Chroot:
    def __init__(self, path):
        self.path = Path(path)

    def __truediv__(self, rel):
        return self.path / rel.lstrip("/")

    def run(self, *cmd, **kw):
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C",
               "DEBIAN_FRONTEND": "noninteractive"}
        env.update(kw.pop("env", {}))
        return run(["chroot", str(self.path), *cmd], env=env, **kw)

    def must(self, *cmd, **kw):
        r = self.run(*cmd, **kw)
        assert r.returncode == 0, f"chroot {cmd} exited {r.returncode}:\n{r.stdout}\n{r.stderr}"
        return r


@pytest.fixture
def chroot(tmp_path):
    assert os.geteuid() == 0, "needs root"
    assert in_private_namespace(), "run inside `unshare --mount --propagation private`"
    ensure_root_tarball()
    root = tmp_path / "root"
    root.mkdir()
    must(["tar", "-C", str(root), "--numeric-owner", "-xzf", str(TARBALL)])
    mounts = []
    for src, dst, args in (("proc", "proc", ["-t", "proc"]),
                           ("/dev", "dev", ["--rbind"]),
                           ("tmpfs", "run", ["-t", "tmpfs", "-o", "mode=0755"]),
                           ("tmpfs", "tmp", ["-t", "tmpfs", "-o", "mode=1777"])):
        must(["mount", *args, src, str(root / dst)])
        mounts.append(root / dst)
    yield Chroot(root)
    for m in reversed(mounts):
        run(["umount", "-R", "-l", str(m)])


@contextlib.contextmanager
def fixture_server(work, listen="127.0.0.1:0"):
    """The fixture SCIM server (sample directory) with token files in `work`; yields its
    URL once it printed READY, stops it on exit."""
    work.mkdir(exist_ok=True)
    (work / "user-token").write_text("wbu-packaging-user-token\n")
    (work / "admin-token").write_text("wba-packaging-admin-token\n")
    proc = subprocess.Popen(
        ["python3", str(ROOT / "tests/fixture/scim_server.py"),
         "--data", str(ROOT / "tests/fixture/sample-directory.json"),
         "--listen", listen,
         "--user-token-file", str(work / "user-token"),
         "--admin-token-file", str(work / "admin-token")],
        stdout=subprocess.PIPE, stderr=open(work / "server.log", "w"), text=True,
        start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        url = None
        while url is None:
            left = deadline - time.monotonic()
            assert left > 0, "fixture server not READY in 30s"
            if select.select([proc.stdout], [], [], left)[0]:
                line = proc.stdout.readline()
                assert line, f"fixture server exited: {(work / 'server.log').read_text()}"
                if line.startswith("READY "):
                    url = line.split(None, 1)[1].strip()
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)


@pytest.fixture
def scim(tmp_path):
    """The fixture SCIM server on loopback, outside the chroot (same network)."""
    work = tmp_path / "scim"
    with fixture_server(work) as url:
        yield url, work


def start_daemon(ch, timeout=30):
    """The installed workbench-cached, as systemd would run it (Type=notify): returns
    once it sent READY=1 on NOTIFY_SOCKET."""
    for d, mode in (("/run/workbench-nss", 0o755), ("/var/cache/workbench-nss", 0o700)):
        (ch / d).mkdir(mode=mode, parents=True, exist_ok=True)
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(ch / "/run/notify.sock"))
    log = open(ch.path.parent / "daemon.log", "w")
    proc = subprocess.Popen(
        ["chroot", str(ch.path), "/usr/sbin/workbench-cached", "serve", "--foreground"],
        env={"PATH": "/usr/sbin:/usr/bin", "NOTIFY_SOCKET": "/run/notify.sock"},
        stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            assert left > 0 and proc.poll() is None, \
                f"daemon not ready: {(ch.path.parent / 'daemon.log').read_text()}"
            if select.select([notify], [], [], min(left, 1))[0]:
                if b"READY=1" in notify.recv(4096):
                    return proc
    finally:
        notify.close()


def configure_node(ch, url, work):
    """Configures the node as Workbench would: workbench-nss.conf pointing at the fixture
    server and both tokens, root:root 0600."""
    etc = ch / "/etc/rstudio"
    etc.mkdir(mode=0o755, exist_ok=True)
    (etc / "workbench-nss.conf").write_text(f"server-address={url}\n")
    for kind in ("user", "admin"):
        dst = etc / f"nss-{kind}-token"
        shutil.copy(work / f"{kind}-token", dst)
        os.chown(dst, 0, 0)
        dst.chmod(0o600)


def assert_unknown_before_daemon(ch):
    """Before the daemon runs: alice is unknown, and nothing breaks (UNAVAIL, next source)."""
    assert ch.run("getent", "passwd", "alice").returncode == 2
    assert ch.must("getent", "passwd", "root").stdout.startswith("root:x:0:0:")


@contextlib.contextmanager
def installed_daemon(ch, url, work):
    """Configures the node as Workbench would, checks that with the installed binary, and
    runs the installed daemon for the block; it must then stop cleanly on SIGTERM."""
    configure_node(ch, url, work)
    ch.must("/usr/sbin/workbench-cached", "check-config")
    daemon = start_daemon(ch)
    try:
        yield daemon
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=15) == 0


def assert_alice_resolves(ch):
    """alice through the installed module alone, through nsswitch.conf, and to id."""
    assert ch.must("getent", "-s", "workbench", "passwd", "alice").stdout.strip() == ALICE_LINE
    assert ch.must("getent", "passwd", "alice").stdout.strip() == ALICE_LINE
    assert ch.must("id", "-u", "alice").stdout.strip() == "1001"
