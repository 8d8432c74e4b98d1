"""Shadow data and pam_unix (design.md §2 sp_* mapping, §5, §7, §9): getent shadow as
root, as the shadow group and refused to others; pamtester as root and as the user
(through setgid unix_chkpwd); account and password stacks; no hash ever leaks."""

import re

import pytest

from hashes import HASHES, assert_no_hash, leaked, redact, shown
from workbench_testkit.sandbox import PAM_PASSWORD_MESSAGE, PAM_SERVICE

pytestmark = pytest.mark.usefixtures("module_answers")

NO_AGING = ["", "", "", "", "", "", ""]  # sp_lstchg … sp_flag: all empty, never 0


def shadow_gid():
    """The GID of `shadow` in the sandbox's /etc/group (read as a file, not via NSS)."""
    with open("/etc/group", encoding="utf-8") as f:
        for line in f:
            fields = line.rstrip("\n").split(":")
            if fields[0] == "shadow":
                return int(fields[2])
    pytest.skip("no shadow group in /etc/group")


def assert_shadow_line(getent, name, pwdp, user=None):
    """getent shadow NAME is exactly NAME:pwdp with no aging (every field after the hash
    empty, never 0, which pam_unix reads as "must change password")."""
    p = getent("shadow", name, user=user)
    ok = p.returncode == 0 and p.stdout == ":".join([name, pwdp, *NO_AGING]) + "\n"
    # Compared as a bool so that pytest's diff cannot print a hash.
    assert ok, f"want {redact(pwdp)} and empty aging fields" + shown(p)


def test_getent_shadow_as_root(getent):
    assert_shadow_line(getent, "alice", HASHES["alice"])


def test_shadow_locked_and_missing(getent):
    assert_shadow_line(getent, "carol", "!" + HASHES["carol"])  # inactive -> locked
    assert_shadow_line(getent, "dave", "*")  # no hash


def test_getent_shadow_enumeration_as_root(getent):
    p = getent("shadow")
    assert p.returncode == 0, shown(p)
    lines = {l.split(":", 1)[0]: l for l in p.stdout.splitlines()}
    assert "root" in lines, "local /etc/shadow missing from the listing"
    want = {"alice": HASHES["alice"], "bob": HASHES["bob"], "carol": "!" + HASHES["carol"],
            "dave": "*", "erin": HASHES["erin"]}
    wrong = [name for name, pwdp in want.items()
             if lines.get(name) != ":".join([name, pwdp, *NO_AGING])]
    assert not wrong, f"wrong or missing in getent shadow: {wrong}" + shown(p)


@pytest.mark.parametrize("user", [(1001, 1001), (65534, 65534)], ids=["alice", "nobody"])
def test_getent_shadow_refused_to_unprivileged(getent, probe, user):
    for args in (("shadow", "alice"), ("-s", "workbench", "shadow", "alice")):
        p = getent(*args, user=user)
        ok = (p.returncode, p.stdout) == (2, "")
        assert ok, shown(p)
        assert_no_hash(p)
    # Enumeration: nothing from the directory (files cannot read /etc/shadow either).
    p = getent("shadow", user=user)
    names = {l.split(":")[0] for l in p.stdout.splitlines()}
    assert not names & {"alice", "bob", "carol", "dave", "erin"}, shown(p)
    assert_no_hash(p)
    # Precisely what glibc got from the module: UNAVAIL with errno EACCES.
    p, data = probe("lookup", "shadow", "alice", "--expect", "EACCES", user=user)
    ok = data is not None and (data["status"], data.get("errno_name")) == ("error", "EACCES")
    assert ok, shown(p)
    assert p.returncode == 0, shown(p)
    assert_no_hash(p)


def test_getent_shadow_as_shadow_group(getent, probe):
    gid = shadow_gid()
    # An unprivileged uid whose effective GID is shadow (as unix_chkpwd runs).
    assert_shadow_line(getent, "alice", HASHES["alice"], user=(65534, gid))
    p, data = probe("lookup", "shadow", "carol", user=(65534, gid))
    ok = p.returncode == 0 and data["entry"]["name"] == "carol"
    assert ok, shown(p)


def pamtester(run, user_name, password, as_user=None, op="authenticate"):
    p = run(["pamtester", PAM_SERVICE, user_name, op], input=password + "\n", user=as_user)
    assert_no_hash(p)
    return p


def test_pam_root_right_password(run):
    p = pamtester(run, "alice", "alice-password")
    assert p.returncode == 0, shown(p)


def test_pam_root_wrong_password(run):
    p = pamtester(run, "alice", "not-alices-password")
    assert p.returncode != 0 and "Authentication failure" in p.stderr, shown(p)


def test_pam_as_user_through_unix_chkpwd(run):
    # Not root: pam_unix runs the setgid-shadow unix_chkpwd, which finds the module
    # only through the private ld.so.cache and gets shadow data as egid shadow.
    p = pamtester(run, "alice", "alice-password", as_user=(1001, 1001))
    assert p.returncode == 0, shown(p)
    p = pamtester(run, "alice", "wrong", as_user=(1001, 1001))
    assert p.returncode != 0 and "Authentication failure" in p.stderr, shown(p)


@pytest.mark.parametrize("name,password", [("carol", "carol-password"), ("dave", ""),
                                           ("dave", "dave-password")])
@pytest.mark.parametrize("as_user", [None, (1001, 1001)], ids=["root", "alice"])
def test_pam_locked_or_passwordless_refused(run, name, password, as_user):
    p = pamtester(run, name, password, as_user=as_user)
    assert p.returncode != 0, shown(p)


@pytest.mark.parametrize("as_user", [None, (1001, 1001)], ids=["root", "alice"])
def test_pam_account_for_directory_user(run, as_user):
    # Empty aging fields: pam_unix never sees "password expired / must change".
    # As alice, only her own account: for another user unix_chkpwd drops its egid
    # (setgid(getgid())) before getspnam, so, exactly as with /etc/shadow, it cannot
    # read bob's entry (issue 10: the module no longer reuses the connection it opened
    # with egid shadow for its getpwuid).
    names = ("alice", "bob") if as_user is None else ("alice",)
    for name in names:
        p = pamtester(run, name, "", as_user=as_user, op="acct_mgmt")
        assert p.returncode == 0, shown(p)
        assert not re.search(r"expired|change your password", p.stdout + p.stderr,
                             re.I), shown(p)
    if as_user is not None:
        p = pamtester(run, "bob", "", as_user=as_user, op="acct_mgmt")
        ok = p.returncode != 0 and "cannot retrieve authentication info" in p.stderr
        assert ok, shown(p)
        assert_no_hash(p)


@pytest.mark.parametrize("as_user", [None, (1001, 1001)], ids=["root", "alice"])
def test_pam_chauthtok_refused_with_a_clear_message(run, as_user):
    p = pamtester(run, "alice", "alice-password\nNew-pw-4711\nNew-pw-4711",
                  as_user=as_user, op="chauthtok")
    assert p.returncode != 0, shown(p)
    assert PAM_PASSWORD_MESSAGE.replace("%u", "alice") in p.stdout, shown(p)


def test_pam_chauthtok_local_account_still_reaches_pam_unix(run):
    # The recommended stack must not lock local accounts out of pam_unix. The two new
    # passwords differ, so pam_unix refuses before writing anything.
    p = run(["pamtester", PAM_SERVICE, "localclash", "chauthtok"],
            input="One-pw-4711\nOther-pw-4711\n")
    assert p.returncode != 0, shown(p)
    assert "identity provider" not in p.stdout, shown(p)
    assert "New password" in p.stdout + p.stderr, shown(p)


def test_hashes_never_in_logs_status_or_errors(run, getent, daemon):
    # Exercise every path that touches hashes at log-level debug, then look everywhere.
    assert daemon.settings["log-level"] == "debug"
    assert getent("shadow").returncode == 0
    assert pamtester(run, "alice", "alice-password", as_user=(1001, 1001)).returncode == 0
    assert pamtester(run, "bob", "wrong").returncode != 0
    outputs = [daemon.cli("sync"), daemon.cli("status", "--json"), daemon.cli("status"),
               run([daemon.binary, "status", "--json"], user=65534),
               run([daemon.binary, "sync"], user=65534),
               getent("shadow", "erin", user=(1001, 1001))]
    assert outputs[0].returncode == 0, shown(outputs[0])
    for p in outputs:
        assert_no_hash(p)
        clean = redact(p.stdout + p.stderr) == p.stdout + p.stderr
        assert clean, f"a crypt-style string in the output of {p.args}"
    log = daemon.log_path.read_text(encoding="utf-8", errors="replace")
    debug = "GET " in log
    assert debug, "the daemon log has no debug lines: the check would prove nothing"
    bad = leaked(log)
    assert not bad, f"hash of {bad} in the daemon log {daemon.log_path}"
    clean = redact(log) == log
    assert clean, f"a crypt-style string in the daemon log {daemon.log_path}"


def test_readme_recommends_the_tested_password_stack():
    from conftest import REPO
    from workbench_testkit.sandbox import PAM_SERVICE_TEXT
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    tested = [l for l in PAM_SERVICE_TEXT.splitlines()
              if l.startswith("password") and "pam_unix" not in l]
    assert len(tested) == 3 and all(f"\n  {l}\n" in readme for l in tested), tested
