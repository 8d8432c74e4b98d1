#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/corpus/<target>/ (small, committed).

Run from anywhere: python3 fuzz/make_seeds.py. Seeds are valid inputs of every kind
(the fuzzer mutates from there) built from the wire format (wire/src/) and the fixture
server's sample and hostile directories; re-running gives the same files.
"""
import json
import pathlib
import struct

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"
FIXTURE = ROOT / "tests" / "fixture"


def u32(n):
    return struct.pack("<I", n)


def s(b):
    b = b.encode() if isinstance(b, str) else b
    return u32(len(b)) + b


def frame(tag, payload):
    return u32(len(payload)) + bytes([1, tag]) + payload


def passwd(name, uid, gid, gecos, home, shell):
    return u32(uid) + u32(gid) + s(name) + s("x") + s(gecos) + s(home) + s(shell)


def group(name, gid, members):
    return u32(gid) + s(name) + s("x") + u32(len(members)) + b"".join(s(m) for m in members)


def shadow(name, pwdp, nums=(19000, 0, 99999, 7, -1, -1), flag=2**64 - 1):
    return s(name) + s(pwdp) + b"".join(struct.pack("<q", n) for n in nums) + struct.pack("<Q", flag)


def page(records, last_key, done):
    key = (b"\x01" + u32(last_key)) if last_key is not None else (b"\x00" + u32(0))
    return bytes([1 if done else 0]) + key + u32(len(records)) + b"".join(s(r) for r in records)


def gid_list(gids):
    return u32(len(gids)) + b"".join(u32(g) for g in gids)


def write(target, name, data):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data.encode() if isinstance(data, str) else data)


ALICE = passwd("alice", 1001, 1001, "Alice Able", "/home/alice", "/bin/bash")
BOB = passwd("bob", 1002, 1002, "", "/home/bob", "/bin/sh")
DEVS = group("devs", 2001, ["alice", "bob", "carol"])
EMPTY = group("empty", 2002, [])
SHADOW = shadow("alice", "$6$salt$" + "h" * 86)
LOCKED = shadow("bob", "!*", (-1, -1, -1, -1, -1, -1), 0)


def wire():
    names = {1: "alice", 3: "devs", 5: "alice", 6: "alice"}
    for tag, name in names.items():
        write("wire_request", f"by_name_{tag}", frame(tag, s(name)))
    write("wire_request", "by_uid", frame(2, u32(1001)))
    write("wire_request", "by_gid", frame(4, u32(2001)))
    for tag in (7, 8, 9):
        write("wire_request", f"list_{tag}_first", frame(tag, b"\x00" + u32(0) + u32(256)))
        write("wire_request", f"list_{tag}_after", frame(tag, b"\x01" + u32(1001) + u32(256)))
    write("wire_request", "status", frame(16, b""))
    write("wire_request", "sync", frame(18, b""))
    write("wire_request", "invalidate_user", frame(17, b"\x01" + s("alice")))
    write("wire_request", "invalidate_group", frame(17, b"\x02" + s("devs")))
    write("wire_request", "invalidate_all", frame(17, b"\x03"))

    for name, payload in [("passwd", ALICE), ("group", DEVS), ("group_empty", EMPTY),
                          ("shadow", SHADOW), ("page", page([ALICE, BOB], 1002, False)),
                          ("page_done", page([], None, True)), ("gids", gid_list([1001, 2001, 2002]))]:
        write("wire_response", name, frame(0, payload))
    write("wire_response", "notfound", frame(1, b""))
    write("wire_response", "tryagain_message", frame(2, b"server unreachable"))


def module():
    # [db, size_hi, size_lo, misalign, key]: db 0 passwd, 1 group, 2 shadow, +4 a page.
    def params(db, size, misalign=0, key=0):
        return bytes([db, size >> 8, size & 0xFF, misalign, key])

    write("module_fill", "passwd_fits", params(0, 1024, 3, 1) + ALICE)
    write("module_fill", "passwd_erange", params(0, 20, 0, 0) + ALICE)
    write("module_fill", "group_fits", params(1, 1024, 5, 2) + DEVS)
    write("module_fill", "group_exact", params(1, 4 * 8 + 5 + 2 + 6 + 4 + 6, 0, 0) + DEVS)
    write("module_fill", "group_empty", params(1, 64, 1, 0) + EMPTY)
    write("module_fill", "shadow_fits", params(2, 1024, 7, 1) + SHADOW)
    write("module_fill", "shadow_locked", params(2, 16, 0, 0) + LOCKED)
    write("module_fill", "passwd_page", params(4, 1024, 2, 0) + page([ALICE, BOB], 1002, False))
    write("module_fill", "group_page", params(5, 1024, 2, 0) + page([DEVS, EMPTY], 2002, True))
    write("module_fill", "shadow_page", params(6, 128, 2, 0) + page([SHADOW, LOCKED], 1002, True))

    # [start, size, limit, primary(4)] + gid list.
    def ig(start, size, limit, primary, gids):
        return bytes([start, size, limit & 0xFF]) + u32(primary) + gid_list(gids)

    write("module_initgroups", "grow", ig(1, 1, 0, 1, [1, 2, 3, 4, 5, 6]))
    write("module_initgroups", "limit", ig(2, 4, 5, 3, [3, 7, 8, 9, 10, 11, 12]))
    write("module_initgroups", "duplicates", ig(3, 8, -1, 0, [1000, 1001, 5, 5, 6]))
    write("module_initgroups", "empty", ig(0, 0, 0, 0, []))


def scim():
    sample = json.loads((FIXTURE / "sample-directory.json").read_text())
    hostile = json.loads((FIXTURE / "hostile-directory.json").read_text())
    lr = "urn:ietf:params:scim:api:messages:2.0:ListResponse"

    def list_response(resources, total=None, start=1):
        return json.dumps({"schemas": [lr], "totalResults": len(resources) if total is None else total,
                           "itemsPerPage": len(resources), "startIndex": start,
                           "Resources": resources}, separators=(",", ":"))

    write("scim_list_response", "users", list_response(sample["users"]))
    write("scim_list_response", "groups", list_response(sample["groups"]))
    write("scim_list_response", "second_page", list_response(sample["users"][:1], total=5, start=2))
    write("scim_list_response", "empty", list_response([], total=0))
    write("scim_list_response", "no_resources", json.dumps({"schemas": [lr], "totalResults": 0}))
    deep = {"id": "u-deep", "x": None}
    for _ in range(110):
        deep = {"id": "u-deep", "x": [deep]}
    write("scim_list_response", "too_deep", list_response([deep, sample["users"][0]]))
    write("scim_list_response", "error", json.dumps({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": "403", "detail": "no"}))

    compact = lambda v: json.dumps(v, separators=(",", ":"))
    write("scim_mapping", "sample", compact({**sample, "admin": sample["users"]}))
    write("scim_mapping", "sample_no_admin", compact(sample))
    for i, u in enumerate(hostile["users"]):
        write("scim_mapping", f"hostile_user_{i:02}", compact({"users": [u, sample["users"][0]]}))
    for i, g in enumerate(hostile["groups"]):
        write("scim_mapping", f"hostile_group_{i:02}",
              compact({"users": sample["users"], "groups": [g, sample["groups"][0]]}))


def config():
    example = (ROOT / "packaging" / "workbench-cached.conf.example").read_text()
    write("config_text", "example", example)
    write("config_text", "minimal", "server-address=https://workbench.example\n")
    write("config_text", "all_kinds", "\n".join([
        "# comment", "server-address = https://workbench.example/scim/v2",
        "positive-ttl=300", "negative-ttl=60", "page-size=500", "min-uid=1000",
        "user-private-groups=yes", "enumerate=false", "log-level=debug",
        "ca-file=/etc/ssl/ca.pem", "home-root=/home", "default-shell=/bin/bash", ""]))
    write("config_text", "insecure", "server-address=http://10.0.0.1:8787\nallow-insecure-http=true\n")
    write("config_text", "unix", "server-address=unix:/run/workbench/scim.sock\n")
    write("config_text", "duplicates_unknown", "server-address=https://a\nserver-address=https://b\nfoo=bar\n")

    write("token_file", "plain", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ3b3JrYmVuY2gifQ.c2lnbmF0dXJl\n")
    write("token_file", "bom_crlf", "\ufeffabcdef0123456789abcdef\r\n")
    write("token_file", "inner_space", "abcdef0123456789 abcdef0123456789\n")
    write("token_file", "empty", "  \n")


if __name__ == "__main__":
    wire()
    module()
    scim()
    config()
