"""The in-process fast path (design.md §5a): warm passwd/group/initgroups lookups are
answered inside the calling process from the daemon's sealed, read-only map image; what
the map cannot answer goes to the socket. Every answer here comes through glibc
(`getent`, `id`, `nss-probe`), and the daemon's own counters show who answered."""

import errno
import itertools
import json
import mmap
import os
import socket
import subprocess
import time

import pytest

from conftest import ALICE_LINE, SAMPLE, show
from workbench_testkit.polling import wait_for
from workbench_testkit.sandbox import BASE_ENV, DEFAULT_SOCKET
from socket_clients import frame

pytestmark = pytest.mark.usefixtures("module_answers")

# wire::map::LEASE_MS: a daemon killed with -9 stops being trusted within this.
LEASE_S = 5.0
BOB_LINE = "bob:x:1002:2001:Bob Baker:/srv/home/bob:/bin/bash"


@pytest.fixture
def daemon(fresh):
    return fresh


class Session:
    """One long-lived process doing lookups on request (`nss-probe session`)."""

    def __init__(self, sandbox, env=None, user=None):
        cmd = [sandbox.bin["probe"], "session"]
        if user is not None:
            cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", "--",
                   *cmd]
        full_env = dict(BASE_ENV)
        full_env.update(env or {})
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, env=full_env)

    def ask(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        out = self.proc.stdout.readline()
        assert out, f"nss-probe session ended (exit {self.proc.poll()})"
        return json.loads(out)

    def passwd(self, key):
        return self.ask(f"passwd {key}")

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


@pytest.fixture
def session(sandbox):
    made = []

    def make(**kw):
        s = Session(sandbox, **kw)
        made.append(s)
        return s
    yield make
    for s in made:
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait()


def line_of(answer):
    e = answer.get("entry") or {}
    if answer.get("status") != "found":
        return answer.get("status")
    return ":".join([e["name"], "x", str(e["uid"]), str(e["gid"]), e["gecos"], e["dir"],
                     e["shell"]])


def test_warm_lookups_are_answered_in_process(fresh, probe):
    before = fresh.status()
    p, data = probe("bench", "getpwnam", "alice", "bob", "--seconds", "1", "--threads", "2")
    assert p.returncode == 0, show(p)
    after = fresh.status()
    fp = after["fast_path"]
    assert fp["enabled"] and fp["generation"] and fp["users"] >= 5, fp
    assert fp["images_handed_out"] > before["fast_path"]["images_handed_out"], fp
    # Thousands of answers, and at least 99% of them never reached the daemon (the
    # others came while the first thread was fetching the image).
    assert data["calls"] >= 10_000 and data["errors"] == 0 and data["notfound"] == 0, data
    socket_lookups = after["lookups"] - before["lookups"]
    assert socket_lookups <= data["calls"] // 100, (socket_lookups, data["calls"])


def test_map_and_socket_answer_the_same(fresh, getent, run):
    no_map = {"WORKBENCH_NSS_NO_MAP": "1"}
    for db in ("passwd", "group"):
        listed = getent(db)
        assert listed.returncode == 0, show(listed)
        assert listed.stdout == run(["getent", db], env=no_map).stdout
        for line in listed.stdout.splitlines():
            name, _, ident = line.split(":")[:3]
            for key in (name, ident):
                via_map = getent(db, key)
                via_socket = run(["getent", db, key], env=no_map)
                assert via_map.stdout == via_socket.stdout, (db, key)
                assert via_map.returncode == via_socket.returncode, (db, key)
    for user in ("alice", "bob", "carol", "nobody-here"):
        assert run(["id", user]).stdout == run(["id", user], env=no_map).stdout, user
    # The socket-only runs really bypassed the map: they were counted as lookups.
    st = fresh.status()
    assert st["lookups"] > 0


def test_a_long_running_process_sees_every_change_on_its_next_call(fresh, session):
    server, control = fresh.server, fresh.server.control
    s = session()
    assert line_of(s.passwd("bob")) == BOB_LINE
    grouped = s.ask("initgroups alice")
    assert 2001 in grouped["groups"], grouped
    generation = fresh.status()["fast_path"]["generation"]
    # `invalidate`: retired before the command returns.
    p = fresh.cli("invalidate", "user", "bob")
    assert p.returncode == 0, show(p)
    st = fresh.status()
    assert st["fast_path"]["retirements"] >= 1, st["fast_path"]
    before = st["lookups"]
    assert line_of(s.passwd("bob")) == BOB_LINE
    assert fresh.status()["lookups"] > before, "bob after invalidate came from the map"
    # A renamed user and a removed membership, through a sync.
    control.add_user({"id": "u-bob", "userName": "bob@example.com", "posixUserName": "robert",
                      "posixUserId": 1002, "posixGroupId": 2001,
                      "homeDirectory": "/srv/home/bob", "displayName": "Bob Baker"})
    devs = s.ask("group devs")
    assert devs["entry"]["members"] == ["alice", "bob"], devs
    control.add_group({"id": "g-devs", "displayName": "Developers", "posixGroupId": 2001,
                       "posixGroupName": "devs", "members": [{"value": "u-bob"}]})
    p = fresh.cli("sync")
    assert p.returncode == 0, show(p)
    assert s.passwd("bob")["status"] == "notfound"
    assert line_of(s.passwd("robert")).startswith("robert:x:1002:2001:")
    assert line_of(s.passwd("1002")).startswith("robert:x:1002:")
    grouped = s.ask("initgroups alice")
    assert 2001 not in grouped["groups"], grouped
    devs = s.ask("group devs")
    assert devs["entry"]["members"] == ["robert"], devs
    # And the map comes back for the new generation: once published, and once this
    # process's back-off after "not now" (asked while the image was being built, at most
    # 200 ms) has passed, 50 lookups in a row are answered by the map.
    wait_for("a new generation", lambda: (fresh.status()["fast_path"]["generation"] or 0)
             > generation)

    def fifty_from_the_map():
        before = fresh.status()["lookups"]
        for _ in range(50):
            assert line_of(s.passwd("alice")) == ALICE_LINE
        return fresh.status()["lookups"] - before <= 2

    wait_for("50 lookups of alice answered by the new map", fifty_from_the_map, timeout=5)
    s.close()


def test_republishing_leaks_nothing(fresh, session):
    s = session()
    assert line_of(s.passwd("alice")) == ALICE_LINE
    first = s.ask("resources")
    assert first["map_mappings"] >= 1 and first["map_fds"] == 0, first
    for i in range(1000):
        gen = fresh.status()["fast_path"]["republishes"]
        assert fresh.cli("invalidate", "user", "carol").returncode == 0
        wait_for("republished", lambda: fresh.status()["fast_path"]["republishes"] > gen)
        # Forces the refresh: the old image is retired, the new one is fetched.
        assert line_of(s.passwd("alice")) == ALICE_LINE, i
    last = s.ask("resources")
    # At most the slots' worth of mappings, no descriptor of ours, no fd growth.
    assert last["map_mappings"] <= 4, last
    assert last["map_fds"] == 0 and last["fds"] == first["fds"], (first, last)
    s.close()


def test_stopped_daemon_retires_the_map_at_once(fresh, session):
    s = session()
    assert line_of(s.passwd("alice")) == ALICE_LINE
    fresh.stop()
    a = s.passwd("alice")
    assert a["status"] != "found", a


def trust_ends_within_the_lease(s, killed):
    """After the daemon was killed at `killed`: alice is answered right (from the map)
    until the lease runs out, then not at all, within the lease and a margin."""
    while True:
        a = s.passwd("alice")
        if a["status"] != "found":
            return
        assert line_of(a) == ALICE_LINE
        assert time.monotonic() - killed < LEASE_S + 2, "still trusted after the lease"
        time.sleep(0.2)


def test_killed_daemon_stops_being_trusted_within_the_lease(fresh, session):
    s = session()
    assert line_of(s.passwd("alice")) == ALICE_LINE
    fresh.kill()
    trust_ends_within_the_lease(s, time.monotonic())


def _fetch_image(path):
    """Asks the daemon for its image like the module does: (offer payload, fd)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    # wire::frame; MapImage is tag 10, its payload the last refusal code (none).
    s.sendall(_frame(10, b"\x00"))
    msg, fds, _, _ = socket.recv_fds(s, 64, 4)
    s.close()
    return msg, fds


def _frame(tag, payload):
    return frame(tag, payload)


def test_the_image_cannot_be_changed_by_its_receiver(fresh, run):
    path = DEFAULT_SOCKET
    msg, fds = _fetch_image(path)
    assert len(fds) == 1, msg
    fd = fds[0]
    size = os.fstat(fd).st_size
    with pytest.raises(OSError) as e:
        os.ftruncate(fd, 0)
    assert e.value.errno == errno.EPERM
    with pytest.raises(OSError):
        os.ftruncate(fd, size + 4096)
    with pytest.raises(OSError) as e:
        os.pwrite(fd, b"X", 0)
    assert e.value.errno in (errno.EPERM, errno.EBADF)
    with pytest.raises(OSError) as e:
        mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    assert e.value.errno == errno.EPERM
    # Reopening through /proc gives a new open file, with the same seals.
    with pytest.raises(OSError):
        w = os.open(f"/proc/self/fd/{fd}", os.O_RDWR)
        try:
            os.pwrite(w, b"X", 0)
        finally:
            os.close(w)
    ro = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ)
    assert ro[:8] == b"WBNSMAP\x00"
    ro.close()
    os.close(fd)
    # And as an ordinary user, through a helper process.
    script = (
        "import os,socket,mmap,sys\n"
        "s=socket.socket(socket.AF_UNIX);s.connect(sys.argv[1])\n"
        "s.sendall(bytes.fromhex(sys.argv[2]))\n"
        "m,fds,_,_=socket.recv_fds(s,64,4);fd=fds[0];n=os.fstat(fd).st_size\n"
        "bad=[]\n"
        "for f in (lambda: os.ftruncate(fd,0), lambda: os.pwrite(fd,b'X',0),\n"
        "          lambda: mmap.mmap(fd,n,mmap.MAP_SHARED,mmap.PROT_READ|mmap.PROT_WRITE)):\n"
        "    try: f(); bad.append('allowed')\n"
        "    except OSError: pass\n"
        "print('ok' if not bad else 'BAD')\n")
    p = run(["python3", "-c", script, path, _frame(10, b"\x00").hex()], user=65534)
    assert p.returncode == 0 and p.stdout.strip() == "ok", show(p)


# -- images from daemons that are not the real one, or not sealed -----------------------

MALLORY_LINE = "mallory:x:4242:4242:Fake Daemon:/home/mallory:/bin/sh"
FAKE = os.path.join(os.path.dirname(__file__), "fake_map_daemon.py")


_fakes = itertools.count(1)


@pytest.fixture
def fake_daemon(sandbox):
    started = []

    def start(mode, user=None):
        d = sandbox.workdir / f"fake-map-{next(_fakes)}"
        d.mkdir(mode=0o755)
        os.chmod(d, 0o777)
        path, log = d / "socket", d / "requests.log"
        log.write_text("")
        os.chmod(log, 0o666)
        cmd = ["python3", FAKE, str(path), mode, str(log)]
        if user is not None:
            cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", "--",
                   *cmd]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=dict(BASE_ENV))
        started.append(proc)
        assert proc.stdout.readline().strip() == "READY"
        return path, log
    yield start
    for p in started:
        p.kill()
        p.wait()


def requests_seen(log):
    return [line.split() for line in log.read_text().splitlines()]


@pytest.mark.parametrize("mode", ["unsealed", "regular", "wrong_size", "bad_header"])
def test_an_image_that_fails_a_check_is_refused_and_the_socket_answers(
        fake_daemon, session, mode):
    path, log = fake_daemon(mode)
    s = session(env={"WORKBENCH_NSS_SOCKET": str(path)})
    for _ in range(3):
        assert line_of(s.passwd("mallory")) == MALLORY_LINE
    tags = [r[0] for r in requests_seen(log)]
    # The image was asked for once (then the process backs off), refused, never mapped,
    # and every answer came from the socket.
    assert tags.count("10") == 1 and tags.count("1") == 3, tags
    res = s.ask("resources")
    assert res["map_mappings"] == 0 and res["map_fds"] == 0, res
    s.close()


def test_a_non_root_daemon_is_never_asked_for_an_image(fake_daemon, session):
    path, log = fake_daemon("bad_header", user=65534)
    # The caller's own daemon (same uid, path from the environment) may answer lookups
    # (design.md §7), but an image only ever comes from root's listener.
    s = session(env={"WORKBENCH_NSS_SOCKET": str(path)}, user=65534)
    assert line_of(s.passwd("mallory")) == MALLORY_LINE
    assert line_of(s.passwd("4242")) == MALLORY_LINE
    tags = [r[0] for r in requests_seen(log)]
    assert "10" not in tags and tags.count("1") == 1 and tags.count("2") == 1, tags
    assert s.ask("resources")["map_mappings"] == 0
    s.close()


# -- torn reads while the daemon republishes -------------------------------------------

def test_republishing_never_tears_an_answer(fresh, sandbox):
    control = fresh.server.control
    with open(SAMPLE, encoding="utf-8") as f:
        sample = {u["id"]: u for u in json.load(f)["users"]}
    people = ["u-alice", "u-bob", "u-dave"]
    names = ["alice", "bob", "dave"]

    def publish(n):
        for uid in people:
            u = dict(sample[uid])
            u["displayName"] = f"gen-{n}"
            control.add_user(u)
        members = people if n % 2 == 0 else people[:1]
        control.add_group({"id": "g-gens", "displayName": "gens", "posixGroupId": 2500,
                           "posixGroupName": "gens",
                           "members": [{"value": m} for m in members]})
        p = fresh.cli("sync")
        assert p.returncode == 0, show(p)

    publish(0)
    seconds = 60
    probe = subprocess.Popen(
        [sandbox.bin["probe"], "generations", str(seconds), "gens", *names, "--threads", "16"],
        stdout=subprocess.PIPE, text=True, env=dict(BASE_ENV))
    before = fresh.status()["fast_path"]["republishes"]
    n = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and probe.poll() is None:
        n += 1
        publish(n)
    out, _ = probe.communicate(timeout=120)
    result = json.loads(out.strip().splitlines()[-1])
    assert probe.returncode == 0 and result["ok"], result
    assert result["calls"] > 10_000 and result["highest_generation"] >= 2, result
    assert fresh.status()["fast_path"]["republishes"] - before >= n // 2, n


# -- fork and kill while images are being replaced --------------------------------------

class Republisher:
    """Keeps the daemon replacing its image (`invalidate user carol`, each a retirement
    and a rebuild) on a thread until stopped or until the daemon is gone."""

    def __init__(self, daemon):
        import threading
        self.daemon, self.count, self.stopped = daemon, 0, threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stopped.is_set():
            if self.daemon.cli("invalidate", "user", "carol").returncode != 0:
                return
            self.count += 1

    def stop(self):
        self.stopped.set()
        self.thread.join(timeout=60)


def test_fork_while_other_threads_refresh_the_map(fresh, probe):
    rep = Republisher(fresh)
    try:
        p, data = probe("fork", "alice", "--rounds", "200", "--lookups", "20",
                        "--threads", "4", timeout=300)
    finally:
        rep.stop()
    assert p.returncode == 0, show(p)
    assert data["child_exit_codes"].count(0) == 200, data
    assert rep.count > 0 and fresh.status()["fast_path"]["republishes"] > 1


def test_killed_while_republishing_no_wrong_answer(fresh, session):
    s = session()
    assert line_of(s.passwd("alice")) == ALICE_LINE
    rep = Republisher(fresh)
    base = fresh.status()["fast_path"]["republishes"]
    # Killed in the middle of the stream of republishes, not between two quiet moments.
    wait_for("republishes under way",
             lambda: fresh.status()["fast_path"]["republishes"] >= base + 5, timeout=30)
    fresh.kill()
    killed = time.monotonic()
    rep.stop()
    trust_ends_within_the_lease(s, killed)
