"""Password hashes in test output: the sample directory's hashes, finding them in a text,
and keeping them out of failure messages (CONTRIBUTING: no hash in logs or output)."""

import json

from conftest import SAMPLE, redact, show

USER_EXT = "urn:rstudio:params:scim:schemas:extension:workbench:1.0:User"


def sample_hashes():
    """{posix name: shadowPassword} of the sample directory."""
    out = {}
    for u in json.loads(SAMPLE.read_text(encoding="utf-8"))["users"]:
        ext = u.get(USER_EXT, {})
        if ext.get("shadowPassword"):
            name = ext.get("posixUserName") or u["userName"].split("@")[0]
            out[name] = ext["shadowPassword"]
    return out


HASHES = sample_hashes()


def leaked(text):
    """Names whose hash (or just its digest part) appears in text; never the hash."""
    return sorted(name for name, h in HASHES.items()
                  if h in text or h.rsplit("$", 1)[1] in text)


def shown(p):
    """conftest.show(p) with every crypt hash replaced, for assertion messages."""
    return redact(show(p))


def assert_no_hash(p):
    bad = leaked(p.stdout + p.stderr)
    assert not bad, f"hash of {bad} in the output of {' '.join(p.args)}"
