"""packaging/nsswitch-edit on ordinary and tricky nsswitch.conf files.

The same script is embedded in the .deb and .rpm maintainer scripts, so these cases
are what postinst/postrm do on a node. Run under every awk present (mawk is Debian's
default, gawk RHEL's, busybox awk is a stand-in for minimal systems).
"""

import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "packaging", "nsswitch-edit")
MARKER = "# added by libnss-workbench (removed again when the package is purged)"

AWKS = [a for a in ("mawk", "gawk", "original-awk") if shutil.which(a)] or ["awk"]


@pytest.fixture(params=AWKS)
def awk_env(request, tmp_path):
    """PATH whose `awk` is the implementation under test."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "awk").symlink_to(shutil.which(request.param))
    return {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}"}


def edit(env, path, action):
    r = subprocess.run(["sh", SCRIPT, action, str(path)], env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return path.read_text()


def roundtrip(env, tmp_path, text):
    """add, add again (idempotent), remove, remove again; returns the added text."""
    f = tmp_path / "nsswitch.conf"
    f.write_text(text)
    added = edit(env, f, "add")
    assert edit(env, f, "add") == added, "add is not idempotent"
    removed = edit(env, f, "remove")
    assert edit(env, f, "remove") == removed, "remove is not idempotent"
    return added, removed


DEBIAN_12 = """\
# /etc/nsswitch.conf
#
# Example configuration of GNU Name Service Switch functionality.

passwd:         files systemd
group:          files systemd
shadow:         files systemd
gshadow:        files systemd

hosts:          files dns
netgroup:       nis
"""


def test_debian_default(awk_env, tmp_path):
    added, removed = roundtrip(awk_env, tmp_path, DEBIAN_12)
    assert "passwd:         files workbench systemd\n" in added
    assert "group:          files workbench systemd\n" in added
    assert "shadow:         files workbench systemd\n" in added
    # Other databases, comments and blank lines untouched.
    assert "gshadow:        files systemd\n" in added
    assert "hosts:          files dns\n" in added
    assert added.startswith("# /etc/nsswitch.conf\n#\n# Example")
    assert removed == DEBIAN_12


def test_sss_goes_after_workbench(awk_env, tmp_path):
    text = "passwd: files sss\ngroup: files sss\nshadow: files sss\n"
    added, removed = roundtrip(awk_env, tmp_path, text)
    assert added == ("passwd: files workbench sss\ngroup: files workbench sss\n"
                     "shadow: files workbench sss\n")
    assert removed == text


def test_already_listed_is_left_alone(awk_env, tmp_path):
    text = "passwd: files sss workbench\ngroup:\tworkbench files\nshadow: files workbench\n"
    f = tmp_path / "nsswitch.conf"
    f.write_text(text)
    assert edit(awk_env, f, "add") == text
    assert edit(awk_env, f, "remove") == "passwd: files sss\ngroup:\tfiles\nshadow: files\n"


def test_missing_shadow_line_is_added_and_removed_again(awk_env, tmp_path):
    text = "passwd: files\ngroup: files\nhosts: files dns\n"
    added, removed = roundtrip(awk_env, tmp_path, text)
    assert added == ("passwd: files workbench\ngroup: files workbench\nhosts: files dns\n"
                     f"{MARKER}\nshadow:         files workbench\n")
    assert removed == text


def test_appended_line_edited_by_the_admin_is_kept(awk_env, tmp_path):
    f = tmp_path / "nsswitch.conf"
    f.write_text("passwd: files\ngroup: files\n")
    edit(awk_env, f, "add")
    f.write_text(f.read_text().replace("shadow:         files workbench",
                                       "shadow:         files workbench sss"))
    assert edit(awk_env, f, "remove") == "passwd: files\ngroup: files\nshadow:         files sss\n"


def test_tabs_comments_actions_and_odd_spacing(awk_env, tmp_path):
    text = ("  # passwd: files ldap   (a comment that looks like a line)\n"
            "passwd:\tfiles\tsystemd   # trailing comment\n"
            "group :files [SUCCESS=merge] sss\n"
            "   shadow:   compat\n"
            "#shadow: files\n")
    added, removed = roundtrip(awk_env, tmp_path, text)
    assert added.splitlines() == [
        "  # passwd: files ldap   (a comment that looks like a line)",
        "passwd:\tfiles workbench\tsystemd   # trailing comment",
        "group :files [SUCCESS=merge] workbench sss",
        "   shadow:   compat workbench",
        "#shadow: files",
    ]
    assert removed == text


def test_no_files_source_puts_workbench_first(awk_env, tmp_path):
    text = "passwd: sss\ngroup:   ldap [NOTFOUND=return]\nshadow:\n"
    added, removed = roundtrip(awk_env, tmp_path, text)
    assert added.splitlines() == ["passwd: workbench sss",
                                  "group:   workbench ldap [NOTFOUND=return]",
                                  "shadow: workbench"]


def test_similar_names_are_not_workbench(awk_env, tmp_path):
    text = "passwd: files workbench2 myworkbench\ngroup: files\nshadow: files\n"
    added, removed = roundtrip(awk_env, tmp_path, text)
    assert added.splitlines()[0] == "passwd: files workbench workbench2 myworkbench"
    assert removed == text


def test_workbench_with_actions_is_removed_with_them(awk_env, tmp_path):
    f = tmp_path / "nsswitch.conf"
    f.write_text("passwd: files workbench [UNAVAIL=return] sss\ngroup: workbench  files\n")
    assert edit(awk_env, f, "remove") == "passwd: files sss\ngroup: files\n"


def test_missing_file(awk_env, tmp_path):
    f = tmp_path / "nsswitch.conf"
    r = subprocess.run(["sh", SCRIPT, "remove", str(f)], env=awk_env)
    assert r.returncode == 0 and not f.exists()
    edit(awk_env, f, "add")
    assert f.read_text().count("files workbench") == 3
    assert oct(f.stat().st_mode & 0o777) == "0o644"


def test_keeps_mode_and_follows_symlinks(awk_env, tmp_path):
    real = tmp_path / "real.conf"
    real.write_text(DEBIAN_12)
    real.chmod(0o640)
    link = tmp_path / "nsswitch.conf"
    link.symlink_to(real)
    subprocess.run(["sh", SCRIPT, "add", str(link)], env=awk_env, check=True)
    assert link.is_symlink()
    assert "files workbench systemd" in real.read_text()
    assert oct(real.stat().st_mode & 0o777) == "0o640"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin", "nsswitch.conf", "real.conf"]


def test_no_change_leaves_the_file_untouched(awk_env, tmp_path):
    f = tmp_path / "nsswitch.conf"
    f.write_text("passwd: files workbench\ngroup: files workbench\nshadow: files workbench\n")
    before = f.stat().st_ino, f.stat().st_mtime_ns
    edit(awk_env, f, "add")
    assert (f.stat().st_ino, f.stat().st_mtime_ns) == before


def test_bad_usage(tmp_path):
    for args in ([], ["frob"], ["add", "a", "b"]):
        r = subprocess.run(["sh", SCRIPT, *args], capture_output=True, text=True)
        assert r.returncode == 2 and "usage" in r.stderr
