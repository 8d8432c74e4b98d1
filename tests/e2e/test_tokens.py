"""Token files (design.md §2 tokens and scopes, §3 admin-token-path, §4 token states, §7):
missing, insecure, rejected (and tried again at the next sync), replaced without a restart
(file change alone, and SIGHUP),
empty / padded / unreadable; and hostile shadowPassword values refused per user.

Every test gets its own copies of the server's token files and a daemon reading them,
so it can break them freely. The fixture server is this module's own (its data and
its accepted tokens are changed here). Waiting is on conditions (status, log lines),
bounded; the daemon polls token files every 2 s.
"""

import functools
import os
import re
import shutil
import signal

import pytest

from conftest import SAMPLE
from workbench_testkit import polling
from hashes import shown
from workbench_testkit.sandbox import PAM_SERVICE, random_token, write_secret

pytestmark = pytest.mark.usefixtures("module_answers")

WAIT_S = 20
wait_for = functools.partial(polling.wait_for, timeout=WAIT_S, interval=0.1)
SAMPLE_USERS = SAMPLE_SHADOW = 5  # alice, bob, carol, dave, erin: one shadow entry each


@pytest.fixture(scope="module")
def token_server(services):
    return services.start_server(SAMPLE, "scim-tokens")


class Tokens:
    def __init__(self, directory, server):
        self.dir = directory
        self.server = server
        self.user = write_secret(directory / "user-token", self.read(server.user_token_path))
        self.admin = write_secret(directory / "admin-token",
                                  self.read(server.admin_token_path))

    @staticmethod
    def read(path):
        return path.read_text(encoding="utf-8").strip()


@pytest.fixture
def tokens(sandbox, token_server, request):
    """Copies of the server's (currently accepted) token files, root-owned 0600."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name)
    d = sandbox.workdir / "tokens" / name
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True, mode=0o700)
    return Tokens(d, token_server)


@pytest.fixture
def daemon(services, token_server, tokens):
    return services.ensure(token_server, user_token_path=tokens.user,
                           admin_token_path=tokens.admin)


def wait_status(daemon, what, pred, timeout=WAIT_S):
    last = {}

    def check():
        last["st"] = daemon.status()
        return last["st"] if pred(last["st"]) else None
    try:
        return wait_for(what, check, timeout=timeout)
    except pytest.fail.Exception:
        pytest.fail(f"status never showed {what}; last: {last.get('st')}")


def wait_admin(daemon, state):
    return wait_status(daemon, f"tokens.admin == {state!r}",
                       lambda st: st["tokens"]["admin"] == state)


def wait_log(daemon, text, timeout=WAIT_S):
    return wait_for(f"log line containing {text!r} in {daemon.log_path}",
                    lambda: text in daemon.log_path.read_text(errors="replace"), timeout=timeout)


def replace_token(path, text):
    """Writes a token file the way an operator's tooling does (new file, rename)."""
    tmp = path.with_name(path.name + ".new")
    write_secret(tmp, text)
    os.replace(tmp, path)


def assert_shadow_unavailable(getent, probe):
    # UNAVAIL/ENOENT from the module (the daemon answers "unavailable"), never NOTFOUND
    # and never a cached hash.
    p, data = probe("lookup", "shadow", "alice", "--expect", "ENOENT")
    ok = data is not None and (data["status"], data.get("errno_name")) == ("error", "ENOENT")
    assert ok, shown(p)  # (bools only: pytest's own explanation could print a hash)
    p = getent("shadow", "alice")
    ok = (p.returncode, p.stdout) == (2, "")
    assert ok, shown(p)
    # Local shadow entries (files) are untouched.
    p = getent("shadow", "root")
    ok = p.returncode == 0 and p.stdout.startswith("root:")
    assert ok, shown(p)


def assert_passwd_and_group_served(getent):
    p = getent("passwd", "alice")
    assert p.returncode == 0 and p.stdout.startswith("alice:x:1001:1001:"), shown(p)
    p = getent("group", "devs")
    assert p.returncode == 0 and p.stdout.startswith("devs:x:2001:"), shown(p)
    p = getent("initgroups", "alice")
    assert p.returncode == 0 and "2001" in p.stdout.split(), shown(p)


def assert_shadow_served(getent):
    p = getent("shadow", "alice")
    ok = p.returncode == 0 and p.stdout.startswith("alice:$6$alicesalt01$")
    assert ok, shown(p)


def assert_no_token(daemon, *texts):
    log = daemon.log_path.read_text(errors="replace")
    for t in texts:
        assert t not in log, "a token is in the daemon log"


# -- missing ---------------------------------------------------------------------------

def test_admin_token_missing(services, token_server, tokens, daemon, getent, probe,
                             run):
    assert_shadow_served(getent)
    tokens.admin.unlink()
    st = wait_admin(daemon, "missing")
    assert st["tokens"]["user"] == "ok", st
    assert_shadow_unavailable(getent, probe)  # cached hashes are not handed out either
    assert_passwd_and_group_served(getent)
    wait_log(daemon, f"admin token file {tokens.admin} does not exist")
    # PAM fails closed: no hash, no password login (local accounts are unaffected).
    p = run(["pamtester", PAM_SERVICE, "alice", "authenticate"], input="alice-password\n")
    assert p.returncode != 0, shown(p)

    # Started without it: the same, from the first answer on.
    services.stop()
    fresh = services.ensure(token_server, user_token_path=tokens.user,
                            admin_token_path=tokens.admin)
    st = fresh.status()
    assert (st["tokens"]["admin"], st["tokens"]["user"]) == ("missing", "ok"), st
    assert st["cached"]["users"] == SAMPLE_USERS and st["cached"]["shadow"] == 0, st
    assert_shadow_unavailable(getent, probe)
    assert_passwd_and_group_served(getent)


# -- insecure permissions --------------------------------------------------------------

def test_admin_token_insecure_permissions(tokens, daemon, getent, probe):
    path = tokens.admin
    for mode, uid in ((0o640, 0), (0o604, 0), (0o600, 65534)):
        os.chown(path, uid, uid)
        os.chmod(path, mode)
        # The log line names the file, what is wrong with it, and the fix.
        wait_log(daemon, f"admin token refused: {path} is owned by uid {uid} gid {uid} "
                         f"with mode {mode:04o}")
        wait_admin(daemon, "insecure-permissions")
        assert_shadow_unavailable(getent, probe)
    wait_log(daemon, f"(fix: chown root:root {path} && chmod 600 {path})")
    assert_passwd_and_group_served(getent)
    # Fixed as the message says: used again, no restart, no signal.
    os.chown(path, 0, 0)
    os.chmod(path, 0o600)
    wait_admin(daemon, "ok")
    assert_shadow_served(getent)


# -- rejected (401/403) and replaced without a restart ---------------------------------

def test_admin_token_rejected_then_replaced_in_file(tokens, daemon, getent, probe):
    good = Tokens.read(tokens.admin)
    wrong = random_token("wba-unknown")
    replace_token(tokens.admin, wrong)
    st = wait_admin(daemon, "rejected")
    assert st["tokens"]["user"] == "ok", st
    assert_shadow_unavailable(getent, probe)
    assert_passwd_and_group_served(getent)
    wait_log(daemon, f"admin token {tokens.admin}: rejected by the server (401/403)")
    # The right token written into the file is used on the file change alone.
    replace_token(tokens.admin, good)
    wait_status(daemon, "admin ok with shadow data",
                lambda st: st["tokens"]["admin"] == "ok"
                and st["cached"]["shadow"] == SAMPLE_SHADOW)
    assert_shadow_served(getent)
    assert_no_token(daemon, good, wrong)


def test_rotated_token_used_at_the_next_sync(token_server, tokens, daemon, getent, probe):
    """The operator writes the new token into the file before Workbench accepts it: the
    daemon re-reads the file on its own and is refused, and lookups stop using it. Once
    the server accepts it, the next sync tries it again and uses it, though nothing about
    the file changed (here `workbench-cached sync`; the scheduled sync does the same)."""
    server_file = token_server.admin_token_path
    old = Tokens.read(server_file)
    new = random_token("wba-rotated")
    replace_token(tokens.admin, new)
    wait_admin(daemon, "rejected")
    try:
        write_secret(server_file, new)  # the server re-reads it on every request
        # Lookups never retry a rejected token on their own.
        assert_shadow_unavailable(getent, probe)
        assert daemon.status()["tokens"]["admin"] == "rejected"
        p = daemon.cli("sync")
        assert p.returncode == 0, shown(p)
        st = daemon.status()
        assert st["tokens"]["admin"] == "ok" and st["cached"]["shadow"] == SAMPLE_SHADOW, st
        assert_shadow_served(getent)
    finally:
        write_secret(server_file, old)
    assert_no_token(daemon, old, new)


@pytest.mark.parametrize("fault,code", [(("unauthorized", {}), "401"),
                                        (("status", {"code": 403}), "403")],
                         ids=["401", "403"])
def test_server_refusal_marks_user_token_rejected(token_server, tokens, daemon, getent,
                                                  fault, code):
    ctl = token_server.control
    ctl.set_fault(fault[0], **fault[1])
    try:
        p = daemon.cli("sync")
        assert p.returncode != 0, shown(p)
        assert code in p.stdout + p.stderr, shown(p)
        st = daemon.status()
        assert st["tokens"]["user"] == "rejected", st
        assert st["serving_stale"] is True, st
        # What was cached keeps being served.
        assert_passwd_and_group_served(getent)
        wait_log(daemon, f"user token {tokens.user}: rejected by the server (401/403)")
    finally:
        ctl.clear_fault()
    # A rejected token is retried on SIGHUP (or when its file changes).
    daemon.proc.send_signal(signal.SIGHUP)
    wait_status(daemon, "user token ok and a good sync",
                lambda st: st["tokens"]["user"] == "ok" and not st["serving_stale"]
                and st["server"]["last_error"] is None)


# -- contents of the file --------------------------------------------------------------

def test_admin_token_file_contents(tokens, daemon, getent, probe):
    path, good = tokens.admin, Tokens.read(tokens.admin)
    # Empty.
    replace_token(path, "")
    wait_admin(daemon, "unreadable")
    wait_log(daemon, f"admin token file {path} is empty")
    assert_shadow_unavailable(getent, probe)
    # Surrounding whitespace and blank lines are trimmed.
    tmp = path.with_name("padded")
    write_secret(tmp, f"  {good} \r\n\n\t\n")
    os.replace(tmp, path)
    wait_admin(daemon, "ok")
    assert_shadow_served(getent)
    # A directory where the file should be.
    path.unlink()
    path.mkdir(mode=0o700)
    wait_admin(daemon, "unreadable")
    wait_log(daemon, f"admin token file {path} is unusable: not a regular file")
    assert_shadow_unavailable(getent, probe)
    assert_passwd_and_group_served(getent)
    assert_no_token(daemon, good)


def test_user_token_empty(tokens, daemon, getent):
    replace_token(tokens.user, "")
    st = wait_status(daemon, "tokens.user == 'unreadable'",
                     lambda st: st["tokens"]["user"] == "unreadable")
    assert st["tokens"]["admin"] == "ok", st
    wait_log(daemon, f"user token file {tokens.user} is empty")
    p = daemon.cli("sync")
    assert p.returncode != 0 and "user token unreadable" in p.stdout + p.stderr, shown(p)
    # The cached copy is still served.
    assert_passwd_and_group_served(getent)
    assert_shadow_served(getent)


# -- hostile shadowPassword ------------------------------------------------------------

BAD_SHADOW = {
    "u-badcolon": ("badcolon", 1101, "$6$saltsalt$abc:def"),
    "u-badnewline": ("badnewline", 1102, "$6$saltsalt$abc\ndef"),
    "u-plaintext": ("badplain", 1103, "hunter2-plaintext"),
}


def test_bad_shadow_password_refused_passwd_kept(token_server, daemon, getent):
    before = daemon.status()["refused"].get("bad_shadow", 0)
    ctl = token_server.control
    try:
        for sid, (name, uid, pw) in BAD_SHADOW.items():
            ctl.add_user({"id": sid, "userName": f"{name}@example.com",
                          "posixUserName": name, "posixUserId": uid,
                          "displayName": name.title(), "shadowPassword": pw})
        p = daemon.cli("sync")
        assert p.returncode == 0, shown(p)
        st = daemon.status()
        assert st["refused"].get("bad_shadow", 0) - before == len(BAD_SHADOW), st["refused"]
        refused = {e["scim_id"]: e for e in st["refused_entries"]
                   if e["reason"] == "bad_shadow"}
        assert set(refused) >= set(BAD_SHADOW), refused
        for sid, (name, uid, _) in BAD_SHADOW.items():
            p = getent("passwd", name)
            assert p.returncode == 0 and p.stdout.startswith(f"{name}:x:{uid}:{uid}:"), \
                shown(p)
            p = getent("shadow", name)
            ok = p.stdout == f"{name}:*:::::::\n"
            assert ok, shown(p)
        p = getent("shadow")
        ok = p.returncode == 0 and "\nbadplain:*:::::::\n" in p.stdout
        assert ok, shown(p)
        texts = {"daemon log": daemon.log_path.read_text(errors="replace"),
                 "status --json": daemon.cli("status", "--json").stdout,
                 "status": daemon.cli("status").stdout}
        for where, text in texts.items():
            bad = [sid for sid, (_, _, pw) in BAD_SHADOW.items()
                   if pw in text or "abc:def" in text or "hunter2" in text]
            assert not bad, f"shadowPassword of {bad} in the {where}"
    finally:
        ctl.reset()
