"""The module's credentials and its trust in the daemon (issue 10 items 3-4, design.md
§5 and §7), through real glibc with a small C program (credentials/cred_helper.c) that
does what real applications do between two lookups:

- a root process that looked a user up and then dropped privileges with setresuid
  (no exec) reads no hash: not by a new request, not from the ERANGE replay slot, not
  from an enumeration page fetched as root; passwd keeps working;
- the reverse: a setuid-root (or setgid-shadow) program that dropped to the user, looked
  up, and raised back reads the hash;
- the module sends nothing to a socket whose listener is another non-root user
  (WORKBENCH_NSS_SOCKET), UNAVAIL; a user's own daemon, or root's, is asked;
- an application that closes the module's descriptor (closefrom, stdin closed) and puts
  its own file on that number has that file neither written nor closed;
- a thread cancelled while the module waits is not cancelled inside the module, and its
  cancel state is restored;
- the daemon answers shadow only as the first request of a connection, then closes it.
"""

import os
import shutil
import socket
import struct
import subprocess
from pathlib import Path

import pytest

from conftest import show
from hashes import HASHES, assert_no_hash
from socket_clients import TAG_PASSWD_BY_NAME, TAG_SHADOW_BY_NAME, frame, name
from workbench_testkit.polling import wait_for
from workbench_testkit.sandbox import BASE_ENV, DEFAULT_SOCKET

pytestmark = pytest.mark.usefixtures("module_answers")

HERE = Path(__file__).resolve().parent
HELPER_SRC = HERE / "credentials/cred_helper.c"
RELAY_SRC = HERE / "credentials/relay.py"
ALICE, BOB, NOBODY = 1001, 1002, 65534


def shadow_gid():
    with open("/etc/group", encoding="utf-8") as f:
        for line in f:
            fields = line.rstrip("\n").split(":")
            if fields[0] == "shadow":
                return int(fields[2])
    return None


@pytest.fixture(scope="module")
def helper(sandbox):
    """cred_helper compiled into the sandbox, plus setuid-root and setgid-shadow copies
    on a tmpfs mounted without nosuid (the sandbox's /run is nosuid)."""
    bindir = sandbox.workdir / "cred"
    bindir.mkdir(mode=0o755, exist_ok=True)
    os.chmod(bindir, 0o755)
    plain = bindir / "cred-helper"
    p = subprocess.run(["cc", "-O1", "-Wall", "-pthread", "-o", str(plain), str(HELPER_SRC)],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    os.chmod(plain, 0o755)
    suid_dir = bindir / "suid"
    suid_dir.mkdir(exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755,nodev", "wb-e2e-suid",
                    str(suid_dir)], check=True)
    setuid = suid_dir / "cred-helper-setuid"
    shutil.copyfile(plain, setuid)
    os.chown(setuid, 0, 0)
    os.chmod(setuid, 0o4755)
    paths = {"plain": plain, "setuid": setuid, "setgid": None}
    gid = shadow_gid()
    if gid is not None:
        setgid = suid_dir / "cred-helper-setgid"
        shutil.copyfile(plain, setgid)
        os.chown(setgid, 0, gid)
        os.chmod(setgid, 0o2755)
        paths["setgid"] = setgid
    yield paths
    subprocess.run(["umount", "-l", str(suid_dir)], capture_output=True)


def observations(p):
    """The helper's key=value lines as a dict (fails on a crash)."""
    assert p.returncode == 0, show(p)
    assert_no_hash(p)
    return dict(line.split("=", 1) for line in p.stdout.splitlines() if "=" in line)


def test_setresuid_without_exec_reads_no_hash(run, helper):
    p = run([helper["plain"], "drop", "alice", "bob", NOBODY, NOBODY],
            input=HASHES["alice"] + "\n")
    got = observations(p)
    want = {
        # As root: the hash arrives (the test can fail), an ERANGE answer is pending,
        # an enumeration page of hashes is buffered.
        "root_passwd": "ok", "root_shadow": "match", "root_tiny_buffer": "ERANGE",
        "root_getspent": "entry", "euid": str(NOBODY),
        # After setresuid(nobody) in the same process and thread: refused (UNAVAIL +
        # EACCES, as for any unprivileged caller), nothing more from the root page.
        "dropped_shadow": "none:EACCES", "dropped_getspent_entries": "0",
        "dropped_passwd": "ok",
    }
    assert got == want, show(p)


def test_setuid_program_raising_euid_reads_the_hash(run, helper):
    p = run([helper["setuid"], "raise", "alice"], user=(ALICE, ALICE),
            input=HASHES["alice"] + "\n")
    got = observations(p)
    want = {"start_euid": "0", "start_egid": str(ALICE),
            # Connected as the user: passwd yes, shadow no.
            "user_passwd": "ok", "user_shadow": "none:EACCES", "user_passwd_again": "ok",
            # seteuid(0) without exec: shadow goes on a fresh connection, as root.
            "raised_euid": "0", "raised_egid": str(ALICE),
            "raised_shadow": "match", "raised_passwd": "ok"}
    assert got == want, show(p)


def test_setgid_shadow_program_raising_egid_reads_the_hash(run, helper):
    if helper["setgid"] is None:
        pytest.skip("no shadow group in /etc/group")
    gid = shadow_gid()
    p = run([helper["setgid"], "raise", "alice"], user=(ALICE, ALICE),
            input=HASHES["alice"] + "\n")
    got = observations(p)
    want = {"start_euid": str(ALICE), "start_egid": str(gid),
            "user_passwd": "ok", "user_shadow": "none:EACCES", "user_passwd_again": "ok",
            "raised_euid": str(ALICE), "raised_egid": str(gid),
            "raised_shadow": "match", "raised_passwd": "ok"}
    assert got == want, show(p)


class Relay:
    """relay.py run as `uid`, listening at its own path, relaying to the real daemon."""

    def __init__(self, sandbox, uid, name):
        self.dir = sandbox.workdir / "trust" / name
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chown(self.dir, uid, uid)
        os.chmod(self.dir, 0o755)
        self.path = self.dir / "socket"
        self.log = self.dir / "log"
        self.log.touch()
        os.chown(self.log, uid, uid)
        script = self.dir / "relay.py"
        shutil.copyfile(RELAY_SRC, script)
        os.chmod(script, 0o644)
        cmd = ["python3", str(script), str(self.path), DEFAULT_SOCKET, str(self.log)]
        if uid != 0:
            cmd = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--",
                   *cmd]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=dict(BASE_ENV))
        line = self.proc.stdout.readline()  # waits for the message, bounded below
        assert line.strip() == "ready", self.proc.stderr.read()

    def connections(self):
        return [int(l.split("=", 1)[1]) for l in self.log.read_text().splitlines()]

    def stop(self):
        self.proc.kill()
        self.proc.wait(timeout=10)


@pytest.fixture
def relays(sandbox):
    started = []

    def start(uid, name):
        relay = Relay(sandbox, uid, name)
        started.append(relay)
        return relay
    yield start
    for relay in started:
        relay.stop()


def probe_via(sandbox, relay, user, *args):
    """nss-probe with WORKBENCH_NSS_SOCKET set for the probe alone (set through `env`
    after setpriv changed ids: setpriv itself looks names up, as root)."""
    cmd = ["env", f"WORKBENCH_NSS_SOCKET={relay.path}", sandbox.bin["probe"], *args]
    return sandbox.run(cmd, user=user)


@pytest.mark.parametrize("caller", [None, BOB], ids=["root", "another-user"])
def test_another_users_daemon_gets_nothing(sandbox, relays, caller):
    relay = relays(ALICE, f"alice-for-{caller or 'root'}")
    p = probe_via(sandbox, relay, caller, "lookup", "passwd", "alice", "--expect", "ENOENT")
    # UNAVAIL/ENOENT: as if no daemon ran (the next source would answer).
    assert p.returncode == 0 and '"errno_name":"ENOENT"' in p.stdout.replace(" ", ""), show(p)
    # The module connected (the listener saw the connection) and sent not one byte.
    got = wait_for("the relay logged the connection", relay.connections, timeout=10)
    assert got == [0], got


def test_own_and_roots_daemon_are_asked(sandbox, relays):
    own = relays(ALICE, "alice-own")
    p = probe_via(sandbox, own, (ALICE, ALICE), "lookup", "passwd", "bob")
    assert p.returncode == 0 and '"bob"' in p.stdout, show(p)
    got = wait_for("the relay logged the connection", own.connections, timeout=10)
    assert len(got) == 1 and got[0] > 0, got
    # A listener running as root is trusted by anyone.
    rooted = relays(0, "root-relay")
    p = probe_via(sandbox, rooted, (BOB, BOB), "lookup", "passwd", "alice")
    assert p.returncode == 0 and '"alice"' in p.stdout, show(p)
    got = wait_for("the relay logged the connection", rooted.connections, timeout=10)
    assert len(got) == 1 and got[0] > 0, got


def test_application_file_on_the_module_fd_is_left_alone(run, sandbox, helper):
    precious = sandbox.workdir / "cred" / "precious.txt"
    content = "the application's own file\n"
    precious.write_text(content)
    os.chmod(precious, 0o644)
    # The subject is the socket's descriptor in every thread: keep every lookup on the
    # socket (the map would answer the later ones without any descriptor).
    p = run([helper["plain"], "fds", "alice", "bob", precious],
            env={"WORKBENCH_NSS_NO_MAP": "1"})
    got = observations(p)
    assert int(got["module_fd"]) >= 3, show(p)
    want = {"first_passwd": "ok", "fd0_still_closed": "1", "second_passwd": "ok",
            "file_fd_intact": "1", "third_passwd": "ok", "new_socket_after_reuse": "0",
            "thread_fd_intact": "1", "file_fd_still_intact": "1", "last_passwd": "ok"}
    assert {k: got.get(k) for k in want} == want, show(p)
    assert int(got["thread_module_fd"]) >= 3, show(p)
    # Nothing of a request frame was written into the file.
    assert precious.read_text() == content


def test_cancelled_thread_is_not_cancelled_inside_the_module(run, sandbox, helper):
    path = sandbox.workdir / "cred" / "stalled.sock"
    p = run([helper["plain"], "cancel", "alice", path], timeout=30)
    got = observations(p)
    want = {"request_bytes": "6",
            # getpwnam ran to its end (the 3 s deadline: TRYAGAIN/EAGAIN) ...
            "returned": "1", "found": "0", "errno": "EAGAIN",
            # ... with the caller's cancel state back, and the cancel acted afterwards.
            "state_after": "enabled", "joined": "canceled"}
    assert got == want, show(p)


# -- the daemon's side: shadow only as the first request of a connection ---------------

STATUS_FOUND, STATUS_DENIED = 0, 3


def response(sock):
    """(status, payload), or None at EOF."""
    sock.settimeout(5)
    data = b""
    while len(data) < 6:
        chunk = sock.recv(6 - len(data))
        if not chunk:
            return None
        data += chunk
    n, _version, tag = struct.unpack("<IBB", data)
    body = b""
    while len(body) < n:
        chunk = sock.recv(n - len(body))
        assert chunk, "EOF inside a response"
        body += chunk
    return tag, body


def test_daemon_answers_shadow_only_first_then_closes(daemon_status, module_answers):
    before = daemon_status()["shadow_not_first"]
    # First request: answered (we are root), then the connection is closed.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(DEFAULT_SOCKET)
        s.sendall(frame(TAG_SHADOW_BY_NAME, name("alice")))
        status, body = response(s)
        assert status == STATUS_FOUND and HASHES["alice"].encode() in body, status
        assert response(s) is None, "the connection stayed open after shadow data"
    # After another request on the same connection: refused, counted, closed.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(DEFAULT_SOCKET)
        s.sendall(frame(TAG_PASSWD_BY_NAME, name("alice")))
        assert response(s)[0] == STATUS_FOUND
        s.sendall(frame(TAG_SHADOW_BY_NAME, name("alice")))
        status, body = response(s)
        assert status == STATUS_DENIED and HASHES["alice"].encode() not in body, status
        assert response(s) is None, "the connection stayed open after the refusal"
    assert daemon_status()["shadow_not_first"] == before + 1
    # Logged with the peer: this test process.
    me = f"pid {os.getpid()} uid 0 gid {os.getegid()}"

    def logged():
        return any("shadow request after other requests" in line and me in line
                   for line in Path(module_answers.log_path).read_text().splitlines())
    wait_for("the refusal in the daemon log", logged, timeout=10)
