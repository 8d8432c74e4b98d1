"""Shadow data and pam_unix (design.md §2 sp_* mapping, §7, §9): getent shadow as root
and refused to others; pamtester as root and as the user (through setgid unix_chkpwd)."""

import pytest

from conftest import show
from sandbox import PAM_SERVICE

pytestmark = pytest.mark.usefixtures("module_answers")

ALICE_HASH = ("$6$alicesalt01$F4hfsZ7/ycFED/DWQYyWkaWDN7GEAKst4SVXWs3RX.mkGSKRPbUc0EAav"
              "AF/0QwMDtLFV1Yqu/FfdteL8I2xX.")


def shadow_fields(getent, name, user=None):
    p = getent("shadow", name, user=user)
    assert p.returncode == 0, show(p)
    return p.stdout.rstrip("\n").split(":")


def test_getent_shadow_as_root(getent):
    # No aging: every field after the hash empty (never 0: "must change password").
    assert shadow_fields(getent, "alice") == ["alice", ALICE_HASH, "", "", "", "", "", "", ""]


def test_shadow_locked_and_missing(getent):
    carol = shadow_fields(getent, "carol")
    assert carol[1].startswith("!$6$carolsalt01$"), carol  # inactive -> locked
    assert shadow_fields(getent, "dave")[1] == "*"  # no hash


def test_getent_shadow_refused_to_unprivileged(getent):
    p = getent("shadow", "alice", user=(1001, 1001))
    assert p.returncode != 0 and "$6$" not in p.stdout, show(p)
    p = getent("-s", "workbench", "shadow", "alice", user=65534)
    assert p.returncode != 0 and "$6$" not in p.stdout, show(p)


def pamtester(run, user_name, password, as_user=None):
    return run(["pamtester", PAM_SERVICE, user_name, "authenticate"],
               input=password + "\n", user=as_user)


def test_pam_root_right_password(run):
    p = pamtester(run, "alice", "alice-password")
    assert p.returncode == 0, show(p)


def test_pam_root_wrong_password(run):
    p = pamtester(run, "alice", "not-alices-password")
    assert p.returncode != 0, show(p)


def test_pam_as_user_through_unix_chkpwd(run):
    # Not root: pam_unix runs the setgid-shadow unix_chkpwd, which finds the module
    # only through the private ld.so.cache and gets shadow data as egid shadow.
    p = pamtester(run, "alice", "alice-password", as_user=(1001, 1001))
    assert p.returncode == 0, show(p)
    p = pamtester(run, "alice", "wrong", as_user=(1001, 1001))
    assert p.returncode != 0, show(p)


@pytest.mark.parametrize("name,password", [("carol", "carol-password"), ("dave", "")])
def test_pam_locked_or_passwordless_refused(run, name, password):
    p = pamtester(run, name, password)
    assert p.returncode != 0, show(p)


def test_pam_account_for_directory_user(run):
    p = run(["pamtester", PAM_SERVICE, "alice", "acct_mgmt"])
    assert p.returncode == 0, show(p)
