"""The daemon's transports to the SCIM server (design.md §3 `server-address`, §7):
HTTP over a Unix socket (`unix:/path`), and https:// with a private CA given by
`ca-file`. Without `ca-file` the certificate is refused (TLS is always verified): the
failure shows in `status`, and a name nothing cached is TRYAGAIN, never NOTFOUND."""

import subprocess

import pytest

from conftest import ALICE_LINE, SAMPLE, show

pytestmark = pytest.mark.usefixtures("module_answers")


@pytest.fixture(scope="module")
def unix_scim(services, sandbox):
    return services.start_server(SAMPLE, "scim-unix",
                                 unix=sandbox.workdir / "scim-unix" / "scim.sock")


def _openssl(*args, cwd):
    p = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    assert p.returncode == 0, f"openssl {' '.join(args)}: {p.stderr}"


@pytest.fixture(scope="module")
def tls_files(sandbox):
    """A private CA and a server certificate it signed (SAN 127.0.0.1 and localhost)."""
    d = sandbox.workdir / "tls"
    d.mkdir(parents=True, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
             "-subj", "/CN=libnss-workbench e2e private CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    _openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr",
             "-subj", "/CN=localhost", cwd=d)
    (d / "server.ext").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "server.pem", "-days", "2",
             "-extfile", "server.ext", cwd=d)
    return {"ca": d / "ca.pem", "cert": d / "server.pem", "key": d / "server.key"}


@pytest.fixture(scope="module")
def tls_scim(services, tls_files):
    server = services.start_server(SAMPLE, "scim-tls", tls_cert=tls_files["cert"],
                                   tls_key=tls_files["key"])
    assert server.url.startswith("https://"), server.url
    return server


@pytest.fixture
def daemon(request, services, tls_files):
    """`unix`: the Unix-socket server; otherwise https with ca-file. module_answers then
    proves the module answered through that daemon (a fresh cache each time)."""
    if getattr(request, "param", "https") == "unix":
        return services.ensure(request.getfixturevalue("unix_scim"))
    return services.ensure(request.getfixturevalue("tls_scim"), ca_file=tls_files["ca"])


def assert_synced(status, address_prefix):
    st = status()
    assert st["server"]["address"].startswith(address_prefix), st
    assert st["server"]["reachable"] is True, st
    assert st["server"]["last_error"] is None, st
    assert st["server"]["last_sync"] is not None, st
    assert st["cached"]["users"] == 5, st
    return st


@pytest.mark.parametrize("daemon", ["unix"], indirect=True)
def test_unix_socket_server(daemon, unix_scim, daemon_status, getent, run):
    assert daemon.settings["server-address"] == f"unix:{unix_scim.unix}", daemon.settings
    assert_synced(daemon_status, "unix:/")
    p = getent("passwd", "alice")
    assert p.stdout == ALICE_LINE + "\n", show(p)
    p = run(["id", "bob"])
    assert p.stdout == "uid=1002(bob) gid=2001(devs) groups=2001(devs)\n", show(p)
    # The requests really went over that socket.
    counters = unix_scim.control.counters()
    assert counters["by_endpoint"]["Users"] >= 1, counters


def test_https_with_private_ca(daemon, tls_scim, daemon_status, getent):
    assert_synced(daemon_status, "https://")
    p = getent("group", "devs")
    assert p.stdout == "devs:x:2001:alice,bob\n", show(p)
    assert tls_scim.control.counters()["by_endpoint"]["Users"] >= 1


def test_https_without_ca_file_refuses_the_certificate(services, tls_scim, daemon_status,
                                                       probe, getent):
    # A fresh daemon (empty cache) that only has the system roots.
    services.ensure(tls_scim)
    st = daemon_status()
    err = st["server"]["last_error"] or ""
    assert st["server"]["last_sync"] is None, st
    assert st["server"]["reachable"] is False, st
    assert any(w in err.lower() for w in ("tls", "certificate", "issuer")), st
    assert st["cached"]["users"] == 0, st
    # Nothing cached and the server unusable: TRYAGAIN/EAGAIN, never "no such user".
    for key in ("alice", "1001"):
        p, data = probe("lookup", "passwd", key, "--expect", "EAGAIN", timeout=30)
        assert p.returncode == 0, show(p)
        assert (data["status"], data.get("errno_name")) == ("error", "EAGAIN"), data
        assert data["elapsed_ms"] < 4500, data  # within the module's 3 s deadline
    p, data = probe("lookup", "group", "devs", "--expect", "EAGAIN", timeout=30)
    assert p.returncode == 0, show(p)
    p = getent("passwd", "alice")
    assert p.returncode != 0 and p.stdout == "", show(p)
