"""workbench-cached's CLI contract (design.md §4): `status` (--json fields, for anyone,
never a token) and a clean SIGTERM. `check-config` is with the configuration refusals
(test_config_refusals.py); `invalidate` and `sync` in test_cli_root_only_commands.py."""

import pytest

from conftest import show

pytestmark = pytest.mark.usefixtures("module_answers")


def test_status_json_fields(daemon_status):
    st = daemon_status()
    for key in ("server", "tokens", "cached", "refused", "serving_stale", "lookups",
                "hit_ratio"):
        assert key in st, st
    for key in ("address", "reachable", "last_sync", "last_sync_age_s", "last_error"):
        assert key in st["server"], st
    assert set(st["tokens"]) >= {"user", "admin"}, st
    assert set(st["cached"]) >= {"users", "groups"}, st
    assert "total" in st["refused"], st


def test_status_as_unprivileged_user(run, daemon):
    p = run([daemon.binary, "status", "--json"], user=65534)
    assert p.returncode == 0, show(p)
    assert "wba-" not in p.stdout and "wbu-" not in p.stdout, "a token leaked"


def test_tokens_never_in_log_or_status(daemon, services):
    status = daemon.cli("status", "--json").stdout + daemon.cli("status").stdout
    log = daemon.log_path.read_text(errors="replace")
    for path in (daemon.server.user_token_path, daemon.server.admin_token_path):
        token = path.read_text().strip()
        assert token not in status and token not in log, f"token from {path} leaked"


def test_sigterm_exits_zero(services, scim):
    services.ensure(scim)
    assert services.stop() == 0
