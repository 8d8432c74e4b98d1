"""Issue 10: rotating a token without a restart while the daemon runs unprivileged with
its tokens as systemd credentials (copied at start only). Root's `workbench-cached
reload` (the unit's ExecReload=) reads the token files with the daemon's reader and
rules and sends them over the socket, only to a listener root created; the daemon swaps
them in and re-reads its configuration, lookups never stop, the PID stays."""

import grp
import os
import pwd
import select
import shutil
import socket
import subprocess
import threading

import pytest

from conftest import ALICE_LINE, SAMPLE, show
from unprivileged_daemon import LISTENER, NOBODY, credentials_dir
from workbench_testkit import polling
from workbench_testkit.sandbox import (BASE_ENV, DEFAULT_SOCKET, Daemon, random_token, tail,
                                       write_secret)

pytestmark = pytest.mark.usefixtures("module_answers")

ACTIVATE = shutil.which("systemd-socket-activate") or "systemd-socket-activate (not installed)"


@pytest.fixture(scope="module")
def reload_server(services):
    """This module's own server: the test revokes its user token."""
    return services.start_server(SAMPLE, "scim-reload")


class Unprivileged:
    """The daemon as under the packaged units: root (systemd-socket-activate) binds and
    passes the socket, the daemon runs as nobody with $CREDENTIALS_DIRECTORY."""

    def __init__(self, sandbox, server, work):
        self.sandbox, self.work = sandbox, work
        work.mkdir(parents=True, exist_ok=True)
        self.user_src = write_secret(work / "user-token",
                                     server.user_token_path.read_text().strip())
        self.admin_src = write_secret(work / "admin-token",
                                      server.admin_token_path.read_text().strip())
        self.conf = Daemon(sandbox.bin["daemon"], work / "d", server,
                           cache_path=str(work / "cache" / "cache.db"),
                           user_token_path=str(self.user_src),
                           admin_token_path=str(self.admin_src))
        (work / "cache").mkdir(exist_ok=True)
        os.chown(work / "cache", NOBODY, NOBODY)
        os.chmod(work / "cache", 0o700)
        self.creds = credentials_dir(work, NOBODY, {"user-token": self.user_src,
                                                    "admin-token": self.admin_src})
        self.config = self.conf.write_config()
        self.log_path = self.conf.log_path

    def start(self):
        if os.path.exists(DEFAULT_SOCKET):
            os.unlink(DEFAULT_SOCKET)
        self.notify_path = self.work / "notify.sock"
        self.notify_path.unlink(missing_ok=True)
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self.notify.bind(str(self.notify_path))
        os.chmod(self.notify_path, 0o666)
        env = dict(BASE_ENV, NOTIFY_SOCKET=str(self.notify_path),
                   CREDENTIALS_DIRECTORY=str(self.creds))
        self.log = open(self.log_path, "a", encoding="utf-8")
        self.proc = subprocess.Popen(
            [ACTIVATE, "-l", DEFAULT_SOCKET, *[a for k in env for a in ("-E", k)],
             "setpriv", f"--reuid={pwd.getpwuid(NOBODY).pw_name}",
             f"--regid={grp.getgrgid(NOBODY).gr_name}", "--clear-groups", "--",
             str(self.sandbox.bin["daemon"]), "serve", "--config", str(self.config),
             "--foreground"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log, env=env,
            start_new_session=True)
        polling.wait_for("the activator listening", lambda: os.path.exists(DEFAULT_SOCKET)
                         or self.proc.poll() is not None, timeout=10,
                         detail=lambda: tail(self.log_path))
        os.chmod(DEFAULT_SOCKET, 0o666)
        p = self.sandbox.run(["getent", "passwd", "1001"])
        assert p.stdout.strip() == ALICE_LINE, show(p) + tail(self.log_path, 200)
        ready = select.select([self.notify], [], [], 30)[0]
        assert ready and "READY=1" in self.notify.recv(4096).decode(), tail(self.log_path)

    def cli(self, *args, user=None):
        return self.sandbox.run([self.sandbox.bin["daemon"], *args], user=user, timeout=90)

    def status(self):
        import json
        p = self.cli("status", "--json")
        assert p.returncode == 0, show(p)
        return json.loads(p.stdout)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        self.notify.close()
        self.notify_path.unlink(missing_ok=True)
        if os.path.exists(DEFAULT_SOCKET):
            os.unlink(DEFAULT_SOCKET)


@pytest.fixture
def unprivileged(services, sandbox, reload_server, request):
    services.stop()
    d = Unprivileged(sandbox, reload_server, sandbox.workdir / "reload" / request.node.name)
    d.start()
    try:
        yield d
    finally:
        d.stop()


class LookupStream:
    """getent passwd alice, back to back, from another thread until stopped."""

    def __init__(self, sandbox):
        self.sandbox, self.results, self.stopping = sandbox, [], threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stopping.is_set():
            p = self.sandbox.run(["getent", "passwd", "alice"], timeout=30)
            self.results.append((p.returncode, p.stdout.strip()))

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.thread.join(timeout=60)


def test_reload_rotates_the_token_without_a_restart(unprivileged, reload_server, sandbox):
    d = unprivileged
    server_file = reload_server.user_token_path
    old = server_file.read_text().strip()
    new = random_token("wbu-reloaded")
    pid = d.proc.pid
    with LookupStream(sandbox) as stream:
        try:
            # Workbench now accepts only B; the source file holds B; the daemon's
            # credential copy still holds A.
            write_secret(server_file, new)
            write_secret(d.user_src, new)
            p = d.cli("sync")
            assert p.returncode != 0 and "401" in p.stdout + p.stderr, show(p)
            assert d.status()["tokens"]["user"] == "rejected"

            p = d.cli("reload", "--config", d.config)
            assert p.returncode == 0, show(p) + tail(d.log_path)
            assert "user token        ok" in p.stdout and "admin token       ok" in p.stdout, \
                show(p)
            assert d.status()["tokens"] == {"user": "ok", "admin": "ok"}
            p = d.cli("sync")
            assert p.returncode == 0 and "sync ok" in p.stdout, show(p) + tail(d.log_path)
            # A file change alone does not bring the old copy back over the pushed token.
            write_secret(d.user_src, new)
            p = d.cli("sync")
            assert p.returncode == 0, show(p) + tail(d.log_path)
            polling.wait_for("a few lookups after the reload", lambda: len(stream.results) > 20,
                             timeout=30)
        finally:
            write_secret(server_file, old)
    assert d.proc.poll() is None and d.proc.pid == pid
    assert os.readlink(f"/proc/{pid}/exe").endswith("workbench-cached")
    failed = [r for r in stream.results if r != (0, ALICE_LINE)]
    assert stream.results and not failed, failed[:5]
    log = d.log_path.read_text(errors="replace")
    assert f"user token read from {d.user_src} by workbench-cached reload" in log, tail(d.log_path)
    assert new not in log and old not in log, "a token is in the daemon log"


def test_reload_sends_states_not_tokens_and_needs_root(unprivileged, sandbox):
    d = unprivileged
    os.chmod(d.admin_src, 0o644)
    d.user_src.unlink()
    p = d.cli("reload", "--config", d.config)
    assert p.returncode == 1, show(p)
    assert "user token        missing" in p.stdout, show(p)
    assert "admin token       insecure-permissions" in p.stdout, show(p)
    assert d.status()["tokens"] == {"user": "missing", "admin": "insecure-permissions"}
    assert f"chown root:root {d.admin_src}" in tail(d.log_path, 400)

    p = d.cli("reload", "--config", d.config, user=NOBODY)
    assert p.returncode == 4 and "requires root" in p.stderr, show(p)
    assert d.status()["tokens"]["user"] == "missing"


def test_reload_sends_nothing_to_a_listener_that_is_not_root(unprivileged, sandbox):
    d = unprivileged
    squat = sandbox.workdir / "reload-squat"
    squat.mkdir(parents=True, exist_ok=True)
    os.chown(squat, NOBODY, NOBODY)
    path, seen = squat / "fake.sock", squat / "seen"
    seen.unlink(missing_ok=True)
    proc = subprocess.Popen(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}",
                             "--clear-groups", "--", "python3", "-c", LISTENER, str(path),
                             str(seen)],
                            stdout=subprocess.PIPE, text=True, env=dict(BASE_ENV),
                            start_new_session=True)
    try:
        assert proc.stdout.readline().strip() == "READY"
        p = d.cli("reload", "--config", d.config, "--socket", path)
        assert p.returncode == 4, show(p)
        assert f"served by uid {NOBODY}" in p.stderr and "nothing sent" in p.stderr, show(p)
        polling.wait_for("the fake listener's record of the connection", seen.exists,
                         timeout=10)
        assert seen.read_bytes() == b""
    finally:
        proc.kill()
        proc.wait()
