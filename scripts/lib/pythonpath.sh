# shellcheck shell=bash
# The Python import path for scripts/demo and scripts/bench, the same as pytest.ini's
# `pythonpath` for the tests: tests/support (workbench_testkit: the private sandbox,
# launchers for the fixture SCIM server and the daemon) and tests/fixture (the fixture
# server's control client). Sourced from the repository root.
PYTHONPATH="$PWD/tests/support:$PWD/tests/fixture${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONPATH
