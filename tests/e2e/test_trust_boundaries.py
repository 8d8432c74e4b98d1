"""Issue 10, trust boundaries (design.md §3, §7): the daemon runs without root, with the
tokens handed over as systemd credentials; and the transports that steer where the
tokens go are checked: a `unix:` server socket in a directory others can write, or
served by a process that is neither root nor the socket file's owner, is refused before
anything is sent; an `http://` name is resolved (at start and at every connection) and
used only while every address it resolves to is loopback."""

import grp
import json
import os
import pwd
import select
import shutil
import socket
import subprocess
import time

import pytest

from conftest import ALICE_LINE, SAMPLE, show
from hashes import HASHES
from unprivileged_daemon import LISTENER, NOBODY, credentials_dir
from workbench_testkit import polling
from workbench_testkit.sandbox import BASE_ENV, DEFAULT_SOCKET, Daemon, tail

pytestmark = pytest.mark.usefixtures("module_answers")

ACTIVATE = shutil.which("systemd-socket-activate") or "systemd-socket-activate (not installed)"


def wait_last_error(daemon, fragment):
    def check():
        err = daemon.status()["server"]["last_error"]
        return err if err and fragment in err else None
    return polling.wait_for(f"server.last_error containing {fragment!r}", check, timeout=20,
                            detail=lambda: tail(daemon.log_path))


# -- unix: server sockets ----------------------------------------------------------------

def test_unix_socket_in_a_directory_others_can_write_is_refused(services, sandbox):
    sockdir = sandbox.workdir / "scim-unix-ww-sock"
    sockdir.mkdir(parents=True, exist_ok=True)
    server = services.start_server(SAMPLE, "scim-unix-ww", unix=sockdir / "scim.sock")
    os.chmod(sockdir, 0o1777)  # even sticky, like /tmp: anyone could have bound it first
    daemon = services.ensure(server)
    err = wait_last_error(daemon, "writable by others")
    assert f"chmod o-w {sockdir}" in err, err
    st = daemon.status()
    assert st["cached"]["users"] == 0, st
    # Fixed, the same daemon gets through at its next attempt.
    os.chmod(sockdir, 0o755)
    daemon.cli("sync")
    polling.wait_for("a sync through the fixed directory",
                     lambda: daemon.status()["cached"]["users"] == 5, timeout=30,
                     detail=lambda: tail(daemon.log_path))
    p = sandbox.run(["getent", "passwd", "alice"])
    assert p.stdout.strip() == ALICE_LINE, show(p)


def test_unix_socket_served_by_another_user_is_refused(services, sandbox, scim):
    """A process that is neither root nor the socket file's owner is behind the socket:
    the daemon refuses it before writing the request, so the token never reaches it."""
    d = sandbox.workdir / "squat"
    d.mkdir(parents=True, exist_ok=True)
    os.chown(d, NOBODY, NOBODY)
    os.chmod(d, 0o755)
    path, seen = d / "scim.sock", d / "seen"
    proc = subprocess.Popen(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                             "--", "python3", "-c", LISTENER, str(path), str(seen)],
                            stdout=subprocess.PIPE, text=True, env=dict(BASE_ENV),
                            start_new_session=True)
    try:
        assert proc.stdout.readline().strip() == "READY"
        # The file is root's (as if root had created it), the listener is nobody.
        os.chown(path, 0, 0)
        daemon = services.ensure(scim, server_address=f"unix:{path}")
        err = wait_last_error(daemon, "untrusted server socket")
        assert f"runs as uid {NOBODY}" in err and "socket file's owner (uid 0)" in err, err
        token = scim.user_token_path.read_text().strip()
        got = seen.read_bytes() if seen.exists() else b""
        assert token.encode() not in got and b"GET" not in got, got[:200]
        assert "Bearer" not in daemon.log_path.read_text(errors="replace")
    finally:
        proc.kill()
        proc.wait()


def test_http_localhost_is_resolved_and_used(services, sandbox, scim, getent):
    assert scim.url.startswith("http://127.0.0.1:"), scim.url
    url = scim.url.replace("127.0.0.1", "localhost", 1)
    daemon = services.ensure(scim, server_address=url)
    polling.wait_for("a sync through http://localhost",
                     lambda: daemon.status()["cached"]["users"] == 5, timeout=30,
                     detail=lambda: tail(daemon.log_path))
    assert daemon.status()["server"]["last_error"] is None
    p = getent("passwd", "alice")
    assert p.stdout.strip() == ALICE_LINE, show(p)
    c = subprocess.run([daemon.binary, "check-config", "--config", str(daemon.config_path)],
                       capture_output=True, text=True, env=dict(BASE_ENV), timeout=15)
    assert c.returncode == 0 and "warning:" not in c.stdout, show(c)


# -- the daemon without root ---------------------------------------------------------------

def test_daemon_runs_unprivileged_with_credentials_and_a_passed_socket(services, sandbox, scim,
                                                                        getent, run):
    """As under the packaged units: root (systemd-socket-activate, standing in for
    systemd) binds the NSS socket and passes it; the daemon runs as an unprivileged user
    (setpriv execs in place, so LISTEN_PID still names it) with the tokens in
    $CREDENTIALS_DIRECTORY and the configured token paths only stat'ed."""
    services.stop()
    work = sandbox.workdir / "unprivileged"
    conf = Daemon(sandbox.bin["daemon"], work, scim,
                  cache_path=str(work / "cache" / "cache.db"))
    (work / "cache").mkdir(exist_ok=True)
    os.chown(work / "cache", NOBODY, NOBODY)
    os.chmod(work / "cache", 0o700)
    creds = credentials_dir(work, NOBODY, {"user-token": scim.user_token_path,
                                           "admin-token": scim.admin_token_path})
    config = conf.write_config()
    if os.path.exists(DEFAULT_SOCKET):
        os.unlink(DEFAULT_SOCKET)
    notify_path = work / "notify.sock"
    notify_path.unlink(missing_ok=True)
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
    notify.bind(str(notify_path))
    os.chmod(notify_path, 0o666)
    env = dict(BASE_ENV, NOTIFY_SOCKET=str(notify_path), CREDENTIALS_DIRECTORY=str(creds))
    log = open(conf.log_path, "a", encoding="utf-8")
    proc = subprocess.Popen(
        [ACTIVATE, "-l", DEFAULT_SOCKET, *[a for k in env for a in ("-E", k)],
         # By name: setpriv looks a number up as a name first, and a lookup in the
         # process that is about to become the daemon would wait on its own socket.
         "setpriv", f"--reuid={pwd.getpwuid(NOBODY).pw_name}",
         f"--regid={grp.getgrgid(NOBODY).gr_name}", "--clear-groups", "--",
         str(sandbox.bin["daemon"]), "serve", "--config", str(config), "--foreground"],
        stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, start_new_session=True)
    try:
        polling.wait_for("the activator listening", lambda: os.path.exists(DEFAULT_SOCKET)
                         or proc.poll() is not None, timeout=10,
                         detail=lambda: tail(conf.log_path))
        os.chmod(DEFAULT_SOCKET, 0o666)  # SocketMode=0666 in the unit
        # The first lookup makes the activator exec setpriv, then the daemon, which
        # answers it on the passed socket.
        p = sandbox.run(["getent", "passwd", "1001"])
        assert p.stdout.strip() == ALICE_LINE, show(p) + tail(conf.log_path, 200)
        ready = select.select([notify], [], [], 30)[0]
        assert ready and "READY=1" in notify.recv(4096).decode(), tail(conf.log_path, 200)
        status_lines = open(f"/proc/{proc.pid}/status").read().splitlines()
        uids = next(l for l in status_lines if l.startswith("Uid:")).split()[1:]
        assert uids == [str(NOBODY)] * 4, status_lines
        assert os.readlink(f"/proc/{proc.pid}/exe").endswith("workbench-cached")

        text = tail(conf.log_path, 400)
        assert f"user token read from credential {creds}/user-token" in text, text
        assert f"admin token read from credential {creds}/admin-token" in text, text
        for args, expect in ((["-s", "workbench", "passwd", "alice"], ALICE_LINE),
                             (["group", "devs"], "devs:x:")):
            p = getent(*args)
            assert p.returncode == 0 and p.stdout.startswith(expect), show(p)
        # Shadow to root: the admin token from the credential reached the server.
        polling.wait_for("alice's hash served to root", lambda: HASHES["alice"] in
                         sandbox.run(["getent", "shadow", "alice"]).stdout, timeout=30,
                         detail=lambda: tail(conf.log_path))
        p = sandbox.run(["getent", "shadow", "alice"], user=(NOBODY, NOBODY))
        assert HASHES["alice"] not in p.stdout, "shadow data for nobody"
        st = subprocess.run([str(sandbox.bin["daemon"]), "status", "--json"], capture_output=True,
                            text=True, env=dict(BASE_ENV), timeout=15)
        assert st.returncode == 0, show(st)
        assert json.loads(st.stdout)["tokens"] == {"user": "ok", "admin": "ok"}, st.stdout
        # The cache belongs to the daemon's user, 0600.
        meta = os.stat(work / "cache" / "cache.db")
        assert (meta.st_uid, meta.st_mode & 0o777) == (NOBODY, 0o600), meta
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
        notify.close()
        notify_path.unlink(missing_ok=True)
        if os.path.exists(DEFAULT_SOCKET):
            os.unlink(DEFAULT_SOCKET)


def test_admin_token_source_rule_applies_to_credentials(services, sandbox, scim):
    """The copy is fine, but the source file is readable by others: refused as
    insecure-permissions, as when the daemon reads the file itself."""
    work = sandbox.workdir / "cred-source"
    work.mkdir(parents=True, exist_ok=True)
    source = work / "admin-token"
    source.write_bytes(scim.admin_token_path.read_bytes())
    os.chmod(source, 0o644)
    creds = credentials_dir(work, 0, {"user-token": scim.user_token_path,
                                      "admin-token": source})
    daemon = Daemon(sandbox.bin["daemon"], work / "d", scim, admin_token_path=str(source))
    services.stop()
    daemon.start_env = {"CREDENTIALS_DIRECTORY": str(creds)}
    daemon.start()
    try:
        st = daemon.status()
        assert st["tokens"]["admin"] == "insecure-permissions", st
        assert st["tokens"]["user"] == "ok", st
        assert f"chown root:root {source} && chmod 600 {source}" in tail(daemon.log_path, 400)
    finally:
        daemon.stop()


# -- http:// names are resolved ------------------------------------------------------------

@pytest.fixture
def hosts_file(sandbox):
    """A private /etc/hosts (bind-mounted inside the test's mount namespace) the test
    rewrites in place; glibc's files backend reads it at every lookup."""
    path = sandbox.workdir / "hosts"
    path.write_text("127.0.0.1 localhost\n::1 localhost\n")
    os.chmod(path, 0o644)
    subprocess.run(["mount", "--bind", str(path), "/etc/hosts"], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", "/etc/hosts"], check=False)


def test_http_name_resolving_elsewhere_is_refused(services, sandbox, scim, hosts_file):
    """`check-config` and a start refuse a name that resolves to a non-loopback address;
    one that resolved to loopback at start but resolves elsewhere later is refused at the
    next connection, before the token is sent."""
    port = scim.url.rsplit(":", 1)[1].split("/", 1)[0]
    hosts_file.write_text("127.0.0.1 localhost wb-local.test\n192.0.2.7 wb-remote.test\n")
    path = Daemon(sandbox.bin["daemon"], sandbox.workdir / "names-remote", scim,
                  server_address=f"http://wb-remote.test:{port}").write_config()
    c = sandbox.run([sandbox.bin["daemon"], "check-config", "--config", path], user=NOBODY)
    assert c.returncode != 0, show(c)
    assert "wb-remote.test resolves to 192.0.2.7, which is not a loopback address" in c.stdout + c.stderr, show(c)

    daemon = services.ensure(scim, server_address=f"http://wb-local.test:{port}")
    polling.wait_for("a sync through http://wb-local.test",
                     lambda: daemon.status()["cached"]["users"] == 5, timeout=30,
                     detail=lambda: tail(daemon.log_path))
    # The name moves off the machine: the next sync is refused before anything is sent.
    hosts_file.write_text("127.0.0.1 localhost\n192.0.2.7 wb-local.test\n")
    p = daemon.cli("sync")
    assert p.returncode != 0, show(p)
    err = wait_last_error(daemon, "not sent")
    assert "wb-local.test resolves to 192.0.2.7" in err, err
    # What was cached is still served.
    p = sandbox.run(["getent", "passwd", "alice"])
    assert p.stdout.strip() == ALICE_LINE, show(p)
