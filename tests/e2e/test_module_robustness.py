"""The module under stress and failure, through glibc (design.md §5): small buffers,
fork, threads, valgrind, a missing daemon, a daemon that stops answering."""

import signal
import time

import pytest

from conftest import ALICE_LINE, show

pytestmark = pytest.mark.usefixtures("module_answers")

DEADLINE_S = 3.0   # the module's total deadline per call (design.md §5)
MARGIN_S = 1.5


@pytest.fixture
def module_alone(sandbox, getent):
    """nsswitch.conf with `workbench` alone for passwd, group and shadow: with `files`
    first, glibc's files backend answers ERANGE for any buffer shorter than the longest
    /etc/passwd line, so small buffers would never reach the module
    (tests/probe/README.md)."""
    with sandbox.nsswitch(passwd="workbench", group="workbench", shadow="workbench"):
        # The module answers, and files is really out of the way: root is local only.
        p = getent("passwd", "alice")
        assert p.stdout == ALICE_LINE + "\n", show(p)
        p = getent("passwd", "root")
        assert p.returncode == 2 and p.stdout == "", show(p)
        p = getent("group", "root")
        assert p.returncode == 2 and p.stdout == "", show(p)
        yield
    p = getent("passwd", "root")
    assert p.stdout.startswith("root:x:0:0:"), "nsswitch.conf not restored" + show(p)


@pytest.mark.parametrize("db,key", [
    ("passwd", "alice"), ("passwd", "bob"), ("passwd", "1002"), ("group", "devs"),
    ("group", "data_science"), ("group", "alice"), ("group", "2001"),
    ("shadow", "alice"), ("shadow", "carol"), ("shadow", "dave"),
])
def test_probe_buffers(module_alone, probe, db, key):
    # Every buffer size from tiny upward, through the module alone: ERANGE until it
    # fits, never a write past the end, aligned pointers, same entry at every size.
    p, data = probe("buffers", db, key)
    assert p.returncode == 0, show(p)
    assert data is not None and data.get("ok") is True, show(p)
    assert data["erange_count"] >= 1, data  # small buffers reached the module


def test_probe_fork(probe):
    p, _ = probe("fork", "alice")
    assert p.returncode == 0, show(p)


def test_probe_threads(probe):
    p, data = probe("threads", "10", "alice", "bob", "devs", "data_science", timeout=120)
    assert p.returncode == 0, show(p)


@pytest.mark.parametrize("cmd,expect", [
    (["getent", "passwd", "alice"], ALICE_LINE + "\n"),
    (["getent", "group", "devs"], "devs:x:2001:alice,bob\n"),
    (["id", "alice"],
     "uid=1001(alice) gid=1001(alice) groups=1001(alice),2001(devs),2002(data_science)\n"),
    (["getent", "passwd"], None),
])
def test_valgrind_clean(run, cmd, expect):
    p = run(["valgrind", "--error-exitcode=1", "--leak-check=no", "--trace-children=no",
             *cmd], timeout=300)
    assert p.returncode == 0, show(p)
    assert "ERROR SUMMARY: 0 errors" in p.stderr, show(p)
    if expect is not None:
        assert p.stdout == expect, show(p)
    else:
        assert ALICE_LINE in p.stdout.splitlines(), show(p)


def test_daemon_not_running_is_unavail(services, probe, getent):
    assert services.stop() == 0
    p, data = probe("lookup", "passwd", "alice", "--expect", "ENOENT")
    # glibc: UNAVAIL/ENOENT from the last module -> getpwnam_r returns ENOENT (an
    # error), never "not found" (which would poison nscd).
    assert data is not None, show(p)
    assert (data["status"], data.get("errno_name")) == ("error", "ENOENT"), data
    assert data["elapsed_ms"] < 500, data
    assert p.returncode == 0, show(p)
    # files still answers local accounts.
    root = getent("passwd", "root")
    assert root.returncode == 0 and root.stdout.startswith("root:x:0:0:"), show(root)
    # getent reports the failure for a directory user (exit 2: "not found" to getent).
    alice = getent("passwd", "alice")
    assert alice.returncode != 0 and alice.stdout == "", show(alice)


def test_daemon_stopped_is_tryagain_within_deadline(services, probe, getent):
    daemon = services.current
    daemon.proc.send_signal(signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        p, data = probe("lookup", "passwd", "nosuch42", "--expect", "EAGAIN",
                        timeout=30)
        wall = time.monotonic() - t0
    finally:
        daemon.proc.send_signal(signal.SIGCONT)
    assert data is not None, show(p)
    assert (data["status"], data.get("errno_name")) == ("error", "EAGAIN"), data
    assert data["elapsed_ms"] < (DEADLINE_S + MARGIN_S) * 1000, data
    assert wall < DEADLINE_S + MARGIN_S + 1.0, wall
    assert p.returncode == 0, show(p)
    # Resumed, it answers again (cached or not).
    p = getent("passwd", "alice")
    assert p.stdout == ALICE_LINE + "\n", show(p)
