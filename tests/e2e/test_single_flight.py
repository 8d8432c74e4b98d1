"""Single flight (design.md §6, §8): identical concurrent misses make one SCIM request.

100 threads of one process call getpwnam_r for the same name, not yet cached, at the
same moment; the fixture server answers after 1 s, so all of them overlap the first
request. The fixture's counters must show exactly one filtered request, and every
caller must get the entry.
"""

import pytest

from conftest import SAMPLE
from ondemand_helpers import compact_user, many_lookups

pytestmark = pytest.mark.usefixtures("module_answers")

CALLERS = 100


@pytest.fixture(scope="module")
def server(services):
    return services.start_server(SAMPLE, "scim-single-flight")


@pytest.fixture
def daemon(services, server):
    # Fresh: nothing cached beyond the first sync, gate open.
    with services.fresh(server) as d:
        yield d


def test_concurrent_identical_misses_make_one_request(daemon, server, sandbox):
    ctl = server.control
    ctl.add_user(compact_user("u-flighty", "flighty", 1150, home="/home/flighty"))
    ctl.reset_counters()
    ctl.set_fault("latency", seconds=1.0)
    before = daemon.status()["ondemand"]
    out = many_lookups(sandbox, {"mode": "burst", "name": "flighty", "threads": CALLERS})
    print(f"single flight: {out}")
    assert out["lookups"] == CALLERS, out
    assert out["by_status"] == {"found": CALLERS}, out
    assert out["answers"] == ["flighty:1150"], out
    # The overlap is real: every caller waited for the one slow answer.
    assert out["worst_ms"] >= 900, out
    c = ctl.counters()
    assert c["filtered"] == 1 and c["requests"] == 1, c["log"]
    assert 'posixUserName eq "flighty"' in c["log"][0]["filter"], c["log"]
    after = daemon.status()["ondemand"]
    assert after["scim_lookups"] - before["scim_lookups"] == 1, (before, after)
    assert after["shared_flights"] - before["shared_flights"] >= CALLERS - 10, (before, after)
