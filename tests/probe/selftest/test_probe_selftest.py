"""Self-test of nss-probe against a deliberately broken NSS module (fake_nss.c): every
check must pass on good entries and fail on the matching misbehaviour.

Needs root (unshare --mount, to bind-mount a private nsswitch.conf), cc and cargo.
Run: python3 -m pytest tests/probe/selftest
"""

import json
import os
import shutil
import subprocess

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("cc"),
    reason="needs root, unshare and cc")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    work = tmp_path_factory.mktemp("probe")
    subprocess.run(["cc", "-shared", "-fPIC", "-Wall", "-o",
                    str(work / "libnss_probetest.so.2"), os.path.join(HERE, "fake_nss.c")],
                   check=True)
    probe = os.environ.get("NSS_PROBE")
    if not probe:
        subprocess.run(["cargo", "build", "-q", "-p", "nss-probe"], cwd=REPO, check=True)
        probe = os.path.join(REPO, "target", "debug", "nss-probe")
    # The module alone: with `files` behind it, files' own ERANGE for lines longer than
    # the buffer would hide a module that answers NOTFOUND to a small buffer.
    (work / "nsswitch.conf").write_text(
        "passwd: probetest\ngroup: probetest\nshadow: probetest\n")
    (work / "nsswitch-files.conf").write_text(
        "passwd: files probetest\ngroup: files probetest\nshadow: files probetest\n")
    return work, probe


def run(env, *args, conf="nsswitch.conf"):
    work, probe = env
    script = ('mount --bind "$1" /etc/nsswitch.conf && shift && '
              'LD_LIBRARY_PATH="$0" exec "$@"')
    p = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script,
                        str(work), str(work / conf), probe, *args],
                       capture_output=True, text=True, timeout=120)
    return p.returncode, json.loads(p.stdout)


@pytest.mark.parametrize("args,code,fields", [
    (["lookup", "passwd", "ptgood"], 0, {"status": "found"}),
    (["lookup", "passwd", "5001"], 0, {"status": "found", "function": "getpwuid_r"}),
    (["lookup", "passwd", "nobody-here"], 1, {"status": "notfound", "ret": 0}),
    (["lookup", "passwd", "nobody-here", "--expect", "notfound"], 0, {}),
    (["lookup", "passwd", "pteagain", "--expect", "EAGAIN"], 0,
     {"status": "error", "errno": 11, "errno_name": "EAGAIN"}),
    (["lookup", "passwd", "ptunavail", "--expect", "ENOENT"], 0, {"errno_name": "ENOENT"}),
    (["lookup", "passwd", "pteacces", "--expect", "EACCES"], 0, {"errno_name": "EACCES"}),
    (["lookup", "shadow", "pteacces", "--expect", "notfound"], 1, {"errno_name": "EACCES"}),
    (["lookup", "shadow", "ptgood"], 0, {"status": "found"}),
    (["lookup", "passwd", "ptstatic"], 1, {"status": "corrupt"}),
    (["lookup", "passwd", "ptoverflow", "--buffer", "40"], 1, {"status": "corrupt"}),
    (["lookup", "group", "ptbig", "--buffer", "100", "--expect", "ERANGE"], 0, {}),
    (["buffers", "passwd", "ptgood"], 0, {"first_ok_size": 41, "erange_count": 40}),
    (["buffers", "group", "ptgood"], 0, {"erange_count": 31}),
    (["buffers", "shadow", "ptgood"], 0, {}),
    (["buffers", "passwd", "ptnoerange"], 1, {}),
    (["buffers", "passwd", "ptoverflow"], 1, {}),
    (["buffers", "group", "ptmisaligned"], 1, {}),
    (["bigroup", "ptbig", "--expect-members", "20000"], 0, {"members": 20000, "gid": 5002}),
    (["bigroup", "ptbig", "--expect-members", "3"], 1, {}),
    (["fork", "ptgood", "--rounds", "2"], 0, {"child_exit_codes": [0, 0]}),
    (["threads", "0.5", "ptgood", "ptbig"], 0, {"errors": 0, "wrong": 0}),
    (["threads", "0.5", "ptgood", "nonexistent"], 1, {}),
    (["bench", "getpwnam", "ptgood", "--seconds", "0.3", "--threads", "2"], 0, {"errors": 0}),
    (["bench", "getpwnam", "pteagain", "--seconds", "0.2", "--threads", "1"], 1, {}),
    (["bench", "getgrouplist", "ptgood", "--seconds", "0.2", "--threads", "1"], 0, {}),
    (["bench", "getgrnam-static", "ptbig", "--prime", "ptgood", "--seconds", "0.2",
      "--threads", "1"], 0, {"errors": 0, "notfound": 0}),
    (["bench", "getgrnam-static", "ptbig", "--seconds", "0.2", "--threads", "2"], 2, {}),
    (["bench", "getpwnam", "nobody-here", "--seconds", "0.2", "--threads", "1"], 1, {}),
    (["bench", "getpwnam", "nobody-here", "--seconds", "0.2", "--threads", "1",
      "--allow-notfound"], 0, {"errors": 0}),
    (["lookup", "initgroups", "ptgood"], 0, {"gid": 5001}),
    (["lookup", "frobnicate", "x"], 2, {}),
])
def test_probe(env, args, code, fields):
    rc, out = run(env, *args)
    assert rc == code, out
    for k, v in fields.items():
        assert out.get(k) == v, (k, out)
    assert out["ok"] == (code == 0)


def test_files_first_masks_small_buffer_bugs(env):
    # Documents why `buffers` must run with the module alone (see README.md).
    rc, out = run(env, "buffers", "passwd", "ptnoerange", conf="nsswitch-files.conf")
    assert rc == 0, out
