"""Bounded waiting on a condition: the one way the e2e tests wait for the daemon or the
fixture server to reach a state. It polls; it never sleeps in place of a check."""

import time

import pytest


def wait_for(what, check, timeout=10.0, interval=0.05, detail=lambda: ""):
    """Polls check() every `interval` seconds until it returns something truthy, and
    returns that; fails the test after `timeout` seconds, naming `what`, the last value
    and `detail()`."""
    deadline = time.monotonic() + timeout
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() > deadline:
            pytest.fail(f"not reached in {timeout}s: {what} (last: {last!r}) {detail()}".rstrip())
        time.sleep(interval)
