"""Socket activation (packaging/workbench-cached.socket). Under systemd the socket is
bound by systemd, outside the service's mount namespace, and passed to the daemon as
fd 3 with LISTEN_PID/LISTEN_FDS; the daemon checks it and serves on it instead of binding
socket-path itself. (Why: a socket bound inside the unit's namespace is a disconnected
path that AppArmor refuses to unix_chkpwd on Ubuntu; see the socket unit.)

Driven by systemd's own `systemd-socket-activate`: it binds the path, waits for the first
connection, then execs the daemon with the socket. So the first lookup here is queued
on a socket no daemon has touched yet and is answered by the daemon it started. The
VM test (tests/packaging/test_vm_install.py) covers the real units under PID 1."""

import os
import select
import shutil
import signal
import socket
import subprocess
import time

import pytest

from conftest import ALICE_LINE, show
from workbench_testkit import polling
from workbench_testkit.sandbox import BASE_ENV, DEFAULT_SOCKET, Daemon, tail

pytestmark = pytest.mark.usefixtures("module_answers")

# scripts/lib/deps.sh installs it (package systemd); missing, these tests fail.
ACTIVATE = shutil.which("systemd-socket-activate") or "systemd-socket-activate (not installed)"
# What the daemon exits with on a configuration error (no restart under systemd).
EXIT_CONFIG = 2


class Activated:
    """`systemd-socket-activate -l LISTEN workbench-cached serve`, with a notify socket
    of its own so that READY=1 shows when the daemon (not the activator) runs."""

    def __init__(self, sandbox, scim, name, listen=DEFAULT_SOCKET, datagram=False):
        self.daemon = Daemon(sandbox.bin["daemon"], sandbox.workdir / name, scim)
        self.listen = listen
        self.notify_path = self.daemon.workdir / "notify.sock"
        self.notify_path.unlink(missing_ok=True)
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self.notify.bind(str(self.notify_path))
        config = self.daemon.write_config()
        env = dict(BASE_ENV, NOTIFY_SOCKET=str(self.notify_path))
        passed = [a for k in env for a in ("-E", k)]
        mode = ["--datagram"] if datagram else []
        self.log = open(self.daemon.log_path, "a", encoding="utf-8")
        self.proc = subprocess.Popen(
            [ACTIVATE, *mode, "-l", listen, *passed,
             str(sandbox.bin["daemon"]), "serve", "--config", str(config), "--foreground"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log, env=env,
            start_new_session=True)
        polling.wait_for(f"systemd-socket-activate listening on {listen}",
                         lambda: os.path.exists(listen) or self.proc.poll() is not None,
                         timeout=10, detail=self.tail)
        assert self.proc.poll() is None, self.tail()

    def tail(self):
        return "\n" + tail(self.daemon.log_path)

    def exe(self):
        """The program the process runs now: the activator until it execs the daemon."""
        return os.path.basename(os.readlink(f"/proc/{self.proc.pid}/exe"))

    def ready(self, timeout):
        r, _, _ = select.select([self.notify], [], [], timeout)
        return bool(r) and "READY=1" in self.notify.recv(4096).decode().split("\n")

    def wait(self, timeout=20):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running after {timeout}s" + self.tail())

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.notify.close()
        self.notify_path.unlink(missing_ok=True)
        self.log.close()
        if self.listen == DEFAULT_SOCKET and os.path.exists(DEFAULT_SOCKET):
            os.unlink(DEFAULT_SOCKET)


@pytest.fixture
def activated(services, scim):
    """Makes an Activated; the regular test daemon is stopped first (the default socket
    path is the module's) and comes back for the next test through `services`."""
    services.stop()
    made = []

    def make(name, **kw):
        a = Activated(services.sandbox, scim, name, **kw)
        made.append(a)
        return a

    yield make
    for a in made:
        a.close()


def test_first_lookup_starts_the_daemon_on_the_passed_socket(activated, sandbox):
    a = activated("activated")
    # Nothing has connected yet: the activator holds the socket, no daemon runs.
    assert a.exe() == "systemd-socket-activate" and not a.ready(0), a.tail()

    # The lookup queues on the socket; its connection makes the activator exec the
    # daemon, which serves on fd 3. (Had the daemon tried to bind socket-path itself it
    # would have found it in use and exited 1.) By uid: the daemon starts with an empty
    # cache and answers before its first sync ends, with a filtered request, and alice
    # has no posixUserName for a name filter to find.
    p = sandbox.run(["getent", "passwd", "1001"])
    assert p.returncode == 0 and p.stdout.strip() == ALICE_LINE, show(p) + a.tail()
    assert a.exe() == "workbench-cached" and a.ready(10), a.tail()
    assert "(socket passed by systemd)" in a.tail(), a.tail()
    # systemd-socket-activate has no SocketMode=: the socket's mode is what the umask
    # left (0644 or so), which only root can connect to, and the daemon says so.
    assert f"socket {DEFAULT_SOCKET} has mode 0" in a.tail(), a.tail()
    assert "not 0666: lookups by users who cannot write to it fail" in a.tail(), a.tail()
    os.chmod(DEFAULT_SOCKET, 0o666)
    for args, expect in ((["-s", "workbench", "passwd", "alice"], ALICE_LINE),
                         (["group", "devs"], "devs:x:")):
        p = sandbox.run(["getent", *args])
        assert p.returncode == 0 and p.stdout.startswith(expect), show(p)
    p = sandbox.run(["id", "-u", "alice"], user=1001)
    assert p.stdout.strip() == "1001", show(p)

    # SIGTERM: a clean exit that leaves the socket file to its owner (systemd removes
    # it with RemoveOnStop=); the daemon must not unlink what it did not bind.
    a.proc.send_signal(signal.SIGTERM)
    assert a.wait() == 0, a.tail()
    assert os.path.exists(DEFAULT_SOCKET), a.tail()
    # Nobody listens now: the module gets ECONNREFUSED and glibc moves on at once.
    t0 = time.monotonic()
    p = sandbox.run(["getent", "passwd", "alice"])
    took = time.monotonic() - t0
    assert p.returncode == 2 and took < 2, show(p) + f" after {took:.1f}s"


def trigger(path, datagram=False):
    """What makes the activator exec the daemon: a connection (or a datagram)."""
    kind = socket.SOCK_DGRAM if datagram else socket.SOCK_STREAM
    with socket.socket(socket.AF_UNIX, kind) as s:
        s.connect(path)
        if datagram:
            s.send(b"x")


def test_socket_bound_elsewhere_than_socket_path_is_refused(activated, sandbox):
    other = str(sandbox.workdir / "activated-elsewhere.sock")
    a = activated("activated-elsewhere", listen=other)
    trigger(other)
    assert a.wait() == EXIT_CONFIG, a.tail()
    log = a.tail()
    assert "configuration error" in log and other in log and DEFAULT_SOCKET in log, log
    # It did not fall back to binding socket-path in its own namespace.
    assert not os.path.exists(DEFAULT_SOCKET), log


def test_datagram_socket_is_refused(activated, sandbox):
    path = str(sandbox.workdir / "activated-dgram.sock")
    a = activated("activated-dgram", listen=path, datagram=True)
    trigger(path, datagram=True)
    assert a.wait() == EXIT_CONFIG, a.tail()
    assert "not a listening Unix stream socket" in a.tail(), a.tail()


@pytest.mark.parametrize("fd3,listen_fds,expected", [
    ("exec 3</etc/hostname", "1", "not a socket"),
    ("exec 3<&-", "1", "not an open descriptor"),
    ("exec 3</etc/hostname 4</etc/hostname", "2", "exactly one socket"),
    ("exec 3</etc/hostname", "many", "exactly one socket"),
], ids=["file", "closed", "two", "garbage"])
def test_bad_passed_descriptors_are_refused(services, sandbox, scim, fd3, listen_fds, expected):
    """A mistaken unit (a file, nothing, two sockets) stops the daemon with a message
    naming the problem, exit 2, rather than serving on something else or crashing."""
    services.stop()
    d = Daemon(sandbox.bin["daemon"], sandbox.workdir / "bad-fds", scim)
    config = d.write_config()
    # LISTEN_PID must be the daemon's own PID: the shell's, which exec keeps.
    script = (f'{fd3}; LISTEN_PID=$$ LISTEN_FDS={listen_fds} exec "$0" serve '
              f'--config "$1" --foreground')
    p = subprocess.run(["sh", "-c", script, str(sandbox.bin["daemon"]), str(config)],
                       capture_output=True, text=True, env=dict(BASE_ENV),
                       stdin=subprocess.DEVNULL, timeout=15)
    assert p.returncode == EXIT_CONFIG, show(p)
    assert expected in p.stderr and "configuration error" in p.stderr, show(p)
    assert not os.path.exists(DEFAULT_SOCKET), show(p)


def test_listen_variables_for_another_process_are_ignored(services, sandbox, scim):
    """LISTEN_PID names someone else (inherited from an activated parent): not ours to
    take; the daemon binds socket-path itself as without systemd."""
    services.stop()
    d = Daemon(sandbox.bin["daemon"], sandbox.workdir / "foreign-listen", scim)
    d.start_env = {"LISTEN_PID": "1", "LISTEN_FDS": "1"}
    try:
        d.start()
        p = sandbox.run(["getent", "-s", "workbench", "passwd", "alice"])
        assert p.returncode == 0 and p.stdout.strip() == ALICE_LINE, show(p)
        assert "(socket passed by systemd)" not in tail(d.log_path), tail(d.log_path)
        assert d.stop() == 0, tail(d.log_path)
        # It bound the socket, so it removes it.
        assert not os.path.exists(DEFAULT_SOCKET)
    finally:
        d.kill()
