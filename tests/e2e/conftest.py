"""Fixtures for the end-to-end tests: sandbox, fixture SCIM server, daemon, helpers.

Run as root through `scripts/test` (or `python3 -m pytest tests/e2e` as root: the
session then unshares its own private mount namespace before touching anything).
Binaries come from `cargo build --release --workspace`.

Every test module marks itself with `pytestmark = pytest.mark.usefixtures(
"module_answers")`: before each test, `getent -s workbench passwd alice` must answer
from the module (glibc silently skips a module it cannot load). A module that needs
another directory or configuration overrides the `daemon` fixture (the one generic
definition is here): `return services.ensure(server, **settings)`, or, for a daemon
started afresh for each test against a server the module changes,
`with services.fresh(server, **settings) as d: yield d`. `module_answers` then checks
that daemon.
"""

import contextlib
import itertools
import json
import os
import re
from pathlib import Path

import pytest

from workbench_testkit import sandbox as sb

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

RELEASE = Path(os.environ.get("WB_TARGET_DIR", REPO / "target")) / "release"
MODULE = RELEASE / "libnss_workbench.so"
DAEMON = RELEASE / "workbench-cached"
PROBE = RELEASE / "nss-probe"
SAMPLE = REPO / "tests/fixture/sample-directory.json"

# The directory users of the sample data, and what glibc must show for them.
SAMPLE_USERS = {"alice", "bob", "carol", "dave", "erin"}
ALICE_LINE = "alice:x:1001:1001:Alice Able:/home/alice:/bin/bash"


def pytest_configure(config):
    # Before pytest or anything else starts a thread: unshare(CLONE_NEWNS) needs a
    # single-threaded process.
    if os.geteuid() == 0 and not sb.in_private_namespace():
        sb.enter_private_namespace()


class Services:
    """At most one daemon runs at a time (they share the default socket path)."""

    def __init__(self, sandbox):
        self.sandbox = sandbox
        self.current = None
        self.key = None
        self.count = 0
        self.servers = []
        self.last_daemon = None

    def ensure(self, server, **settings):
        key = (id(server), tuple(sorted(settings.items())))
        if self.current is not None and self.current.running() and self.key == key:
            return self.current
        self.stop()
        self.count += 1
        daemon = sb.Daemon(self.sandbox.bin["daemon"], self.sandbox.workdir / f"daemon-{self.count}", server,
                           **settings)
        self.last_daemon = daemon
        daemon.start()
        self.current, self.key = daemon, key
        return daemon

    @contextlib.contextmanager
    def fresh(self, server, **settings):
        """A daemon started afresh (nothing cached, counted or budgeted by an earlier
        test) against a module's own fixture server, whose faults are cleared and
        directory reset before and after the test; the server is started again if a
        test stopped it and failed before restarting it."""
        self._reset_server(server)
        self.stop()
        try:
            yield self.ensure(server, **settings)
        finally:
            self._reset_server(server)

    @staticmethod
    def _reset_server(server):
        if server.proc is None:
            server.start()
        server.control.clear_fault()
        server.control.reset()

    def stop(self):
        """Stop the running daemon (SIGTERM); returns its exit code."""
        daemon, self.current, self.key = self.current, None, None
        if daemon is None:
            return None
        return daemon.stop()

    def start_server(self, data_file, name, **opts):
        server = sb.FixtureServer(REPO, data_file, self.sandbox.workdir / name, name=name,
                                  **opts)
        self.servers.append(server)
        return server.start()


_services = None


@pytest.fixture(scope="session")
def binaries():
    missing = [str(p) for p in (MODULE, DAEMON, PROBE) if not p.exists()]
    if missing:
        pytest.exit("not built: " + ", ".join(missing) +
                    " (run `cargo build --release --workspace`)", returncode=3)
    if os.geteuid() != 0:
        pytest.exit("the end-to-end tests run as root (mounts, setpriv, the daemon)",
                    returncode=3)
    return {"module": MODULE, "daemon": DAEMON, "probe": PROBE}


@pytest.fixture(scope="session")
def sandbox(binaries):
    box = sb.Sandbox(binaries["module"]).setup()
    box.bin = {"probe": box.install(binaries["probe"]),
               "daemon": box.install(binaries["daemon"])}
    yield box
    box.teardown()


@pytest.fixture(scope="session")
def services(sandbox):
    global _services
    _services = Services(sandbox)
    yield _services
    _services.stop()
    for server in _services.servers:
        server.stop()


_own_servers = itertools.count(1)


@pytest.fixture
def fresh(services, request):
    """A fixture server of the test's own with the sample directory (the test may change
    or stop it) and a daemon using it; both stopped afterwards. A module whose tests all
    need one overrides `daemon` with it."""
    module = request.module.__name__.removeprefix("test_")
    server = services.start_server(SAMPLE, f"scim-{module}-{next(_own_servers)}")
    daemon = services.ensure(server)
    yield daemon
    services.stop()
    server.stop()


@pytest.fixture(scope="session")
def scim(services):
    """The fixture SCIM server with the sample directory."""
    return services.start_server(SAMPLE, "scim-sample")


@pytest.fixture
def daemon(services, scim):
    """The daemon with the sample directory and default test settings, running."""
    return services.ensure(scim)


@pytest.fixture
def run(sandbox):
    return sandbox.run


@pytest.fixture
def getent(sandbox):
    def getent(*args, user=None):
        return sandbox.run(["getent", *args], user=user)
    return getent


@pytest.fixture
def probe(sandbox):
    """probe(*args, user=None) -> (CompletedProcess, parsed JSON or None)."""
    def probe(*args, user=None, timeout=120):
        p = sandbox.run([sandbox.bin["probe"], *args], user=user, timeout=timeout)
        try:
            data = json.loads(p.stdout) if p.stdout.strip() else None
        except ValueError:
            data = None
        return p, data
    return probe


@pytest.fixture
def daemon_status(services):
    def status():
        assert services.current is not None, "no daemon running"
        return services.current.status()
    return status


def show(p):
    """A CompletedProcess, for assertion messages."""
    return (f"\n$ {' '.join(p.args)}\nexit {p.returncode}\nstdout: {p.stdout!r}"
            f"\nstderr: {p.stderr[-2000:]!r}")


@pytest.fixture
def module_answers(sandbox, daemon):
    """Proves the module answered: alice exists only in the directory."""
    for line in sandbox.host_passwd.splitlines():
        assert not line.startswith("alice:"), "alice is in the host's /etc/passwd"
    with open("/etc/passwd", encoding="utf-8") as f:
        assert not any(l.startswith("alice:") for l in f), "alice is in /etc/passwd"
    p = sandbox.run(["getent", "-s", "workbench", "passwd", "alice"])
    if p.returncode != 0 or not p.stdout.startswith("alice:x:1001:"):
        # What glibc saw (ENOENT: socket missing or module not loaded; EAGAIN: timeout).
        why = sandbox.run([sandbox.bin["probe"], "lookup", "passwd", "alice"])
        pytest.fail("the module did not answer for alice" + show(p) +
                    f"\nnss-probe lookup: {why.stdout.strip() or why.stderr.strip()}")
    return daemon


# A modular-crypt string ($id$salt$digest): kept out of failure reports even when the
# daemon log under test leaked one.
CRYPT_HASH = re.compile(r"\$[0-9a-z]+\$[A-Za-z0-9./$=,+-]+")


def redact(text):
    return CRYPT_HASH.sub("<crypt hash>", text)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and _services is not None:
        daemon = _services.current or _services.last_daemon
        if daemon is not None:
            report.sections.append(("daemon log (tail)",
                                    redact(sb.tail(daemon.log_path, 80))))
        for server in _services.servers:
            report.sections.append((f"{server.name} log (tail)",
                                    redact(sb.tail(server.log_path, 30))))


def pytest_terminal_summary(terminalreporter):
    """The outage tests' fault table (test_outages.py), also in target/fault-table.txt."""
    import ondemand_helpers
    path = ondemand_helpers.write_fault_table(REPO)
    if path is not None:
        terminalreporter.section("fault table")
        terminalreporter.write(ondemand_helpers.fault_table())
        terminalreporter.write_line(f"(written to {path})")
