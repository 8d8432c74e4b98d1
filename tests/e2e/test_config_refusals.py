"""A bad configuration (design.md §3): `serve` and `check-config` refuse it, naming the
file, the line, the key and the expected form; a file others can write is refused, one
the daemon cannot read says how to fix it. An unknown key is a warning only, and the
test configuration itself passes `check-config`."""

import os
import subprocess

import pytest

from conftest import ALICE_LINE, show
from workbench_testkit.sandbox import BASE_ENV, Daemon, tail

pytestmark = pytest.mark.usefixtures("module_answers")

BAD_VALUES = [
    # (key, bad value, a fragment of the expected form)
    ("positive-ttl", "300 # five minutes", "a whole number of seconds"),
    ("page-size", "0", "a whole number ("),
    ("enumerate", "maybe", "0 or 1"),
    ("log-level", "trace", "one of error, warn, info, debug"),
    ("server-address", "ftp://scim.example.com", "https://host[:port][/path]"),
    ("server-address", "http://10.1.2.3:8080", "allow-insecure-http=1"),
    ("min-uid", "0", "must be at least 1"),
    ("socket-path", "run/workbench.sock", "an absolute path"),
    ("default-shell", "/bin:sh", "':'"),
]


def write_config(sandbox, daemon, name, **settings):
    """The running test daemon's configuration with `settings` changed, at a socket
    path of its own (a wrongly accepted configuration must not meet the running one)."""
    conf = Daemon(daemon.binary, sandbox.workdir / "config-errors" / name, daemon.server,
                  **{"socket_path": str(sandbox.workdir / "config-errors" / name / "sock"),
                     **settings})
    path = conf.write_config()
    return conf, path


def line_of(path, key):
    lines = path.read_text().splitlines()
    return next(i for i, l in enumerate(lines, 1) if l.startswith(f"{key}="))


def serve(binary, path):
    try:
        return subprocess.run([binary, "serve", "--config", str(path), "--foreground"],
                              capture_output=True, text=True, env=dict(BASE_ENV),
                              stdin=subprocess.DEVNULL, timeout=15)
    except subprocess.TimeoutExpired:
        pytest.fail(f"serve --config {path} kept running: the bad value was accepted")


@pytest.mark.parametrize("key,value,expected", BAD_VALUES,
                         ids=[f"{k}={v}" for k, v, _ in BAD_VALUES])
def test_bad_value_refuses_to_start(sandbox, daemon, key, value, expected):
    _, path = write_config(sandbox, daemon, f"bad-{key}", **{key.replace("-", "_"): value})
    lineno = line_of(path, key)
    p = serve(daemon.binary, path)
    assert p.returncode != 0, show(p)
    assert f"{path}:{lineno}: key '{key}'" in p.stderr, show(p)
    assert expected in p.stderr, show(p)
    # check-config says the same.
    c = subprocess.run([daemon.binary, "check-config", "--config", str(path)],
                       capture_output=True, text=True, env=dict(BASE_ENV), timeout=15)
    assert c.returncode != 0, show(c)
    assert f"{path}:{lineno}: key '{key}'" in c.stdout + c.stderr, show(c)


def test_check_config_accepts_the_test_config(daemon):
    p = daemon.cli("check-config", "--config", str(daemon.config_path))
    assert p.returncode == 0, show(p)


def test_check_config_names_file_line_and_key(sandbox, daemon):
    bad = Daemon(daemon.binary, sandbox.workdir / "badconf", daemon.server, enumerate="maybe")
    path = bad.write_config()
    lines = path.read_text().splitlines()
    lineno = next(i for i, l in enumerate(lines, 1) if l.startswith("enumerate="))
    p = bad.cli("check-config", "--config", str(path))
    out = p.stdout + p.stderr
    assert p.returncode != 0, show(p)
    assert str(path) in out and "enumerate" in out and str(lineno) in out, show(p)


def test_line_without_equals_refuses_to_start(sandbox, daemon):
    _, path = write_config(sandbox, daemon, "syntax")
    with open(path, "a", encoding="utf-8") as f:
        f.write("positive-ttl 300\n")
    lineno = len(path.read_text().splitlines())
    p = serve(daemon.binary, path)
    assert p.returncode != 0, show(p)
    assert f"{path}:{lineno}: expected key=value" in p.stderr, show(p)


def test_missing_file_refuses_to_start(sandbox, daemon):
    path = sandbox.workdir / "config-errors" / "does-not-exist.conf"
    p = serve(daemon.binary, path)
    assert p.returncode != 0, show(p)
    assert str(path) in p.stderr, show(p)


def test_unknown_key_warns_but_starts(services, scim, getent):
    daemon = services.ensure(scim, frobnicate_level="3")   # returns after READY=1
    assert daemon.running()
    lineno = line_of(daemon.config_path, "frobnicate-level")
    log = daemon.log_path.read_text(errors="replace")
    want = f"{daemon.config_path}:{lineno}: unknown key 'frobnicate-level' (ignored)"
    assert want in log, tail(daemon.log_path)
    p = getent("passwd", "alice")
    assert p.stdout == ALICE_LINE + "\n", show(p)


INSECURE_FILES = [("group-writable", 0o664, 0), ("world-writable", 0o646, 0),
                  ("not-root", 0o644, 65534)]


@pytest.mark.parametrize("name,mode,uid", INSECURE_FILES, ids=[n for n, _, _ in INSECURE_FILES])
def test_config_file_others_can_write_is_refused(sandbox, daemon, name, mode, uid):
    """Whoever can write the configuration chooses where the tokens go (design.md §7)."""
    _, path = write_config(sandbox, daemon, f"perm-{name}")
    os.chown(path, uid, uid)
    os.chmod(path, mode)
    fix = f"chown root:root {path} && chmod go-w {path}"
    p = serve(daemon.binary, path)
    assert p.returncode != 0, show(p)
    assert fix in p.stderr and f"owned by uid {uid}" in p.stderr, show(p)
    assert f"mode {mode:04o}" in p.stderr, show(p)
    # check-config, run by anyone, reports the same.
    c = sandbox.run([daemon.binary, "check-config", "--config", path], user=65534)
    assert c.returncode != 0 and fix in c.stdout + c.stderr, show(c)


def test_check_config_by_anyone_accepts_a_root_owned_readable_file(sandbox, daemon):
    _, path = write_config(sandbox, daemon, "perm-ok")
    c = sandbox.run([daemon.binary, "check-config", "--config", path], user=65534)
    assert c.returncode == 0 and "configuration OK" in c.stdout, show(c)


def test_config_file_the_daemon_cannot_read_says_how_to_fix_it(sandbox, daemon):
    """The packaged daemon is not root: a 0600 configuration file is unreadable to it."""
    _, path = write_config(sandbox, daemon, "perm-unreadable")
    os.chmod(path, 0o600)
    c = sandbox.run([daemon.binary, "serve", "--config", path, "--foreground"], user=65534,
                    timeout=15)
    assert c.returncode == 2, show(c)
    assert f"{path}: cannot read configuration" in c.stderr, show(c)
    assert "runs as uid 65534" in c.stderr and f"chmod 644 {path}" in c.stderr, show(c)
