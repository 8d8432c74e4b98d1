"""Helpers the end-to-end tests (tests/e2e) share with scripts/demo and scripts/bench.

    sandbox  the private world (tmpfs /run, private ld.so.cache, bind-mounted
             nsswitch.conf, pam.d, passwd, group) and launchers for the fixture SCIM
             server and the daemon
    polling  bounded waiting on a condition (tests only: it fails the test with pytest)

Imported as `workbench_testkit` with tests/support and tests/fixture on the import path:
pytest.ini sets it for pytest, scripts/lib/pythonpath.sh for the scripts.
"""
