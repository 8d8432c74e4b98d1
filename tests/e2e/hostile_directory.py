"""What the hostile directory (tests/fixture/hostile-directory.json; its README section
"hostile-directory.json: expected fate") must come to once the daemon has it, served
together with the sample directory: the refusal reason for each refused SCIM id, the
names and ids that must never appear, and the lines glibc must show for the rest.
Shared by test_hostile_data.py and test_hostile_data_large.py."""

from conftest import ALICE_LINE, REPO

HOSTILE = REPO / "tests/fixture/hostile-directory.json"

# SCIM id -> the refusal reason (status `refused` key). ':' is reported together with
# control characters ("contains ':' or a control character").
REFUSED_USERS = {
    "h-root": "id_below_minimum",
    "h-low": "id_below_minimum",
    "h-maxuid": "invalid_id",
    "h-bigger": "invalid_id",
    "h-negative": "invalid_id",
    "h-uidstring": "invalid_id",
    "h-uidfloat": "invalid_id",
    "h-nouid": "missing_id",
    "h-colon": "control_character",
    "h-newline": "control_character",
    "h-nul": "control_character",
    "h-long": "invalid_name",
    "h-relhome": "relative_home",
    "h-gecoscolon": "control_character",
    "h-gecosctl": "control_character",
    "h-homenl": "control_character",
    "h-dupuid-a": "duplicate_id",
    "h-dupuid-b": "duplicate_id",
    "h-dupname-a": "duplicate_name",
    "h-dupname-b": "duplicate_name",
    "h-localname": "collides_with_local",
    "h-localuid": "collides_with_local",
    # An unknown attribute nested ~150 levels deep: beyond what serde_json parses, so
    # absurd nesting, refused alone (design.md §6) instead of failing the whole page.
    "h-nested": "malformed",
}
REFUSED_GROUPS = {
    "g-nogid": "missing_id",      # from the sample directory: no gid, skipped, reported
    "h-g-nogid": "missing_id",
    "h-g-root": "id_below_minimum",
    "h-g-low": "id_below_minimum",
    "h-g-colon": "control_character",
    "h-g-dupgid-a": "duplicate_id",
    "h-g-dupgid-b": "duplicate_id",
    "h-g-local": "collides_with_local",
}


def expected_refusals():
    """How many entries `status` must count as refused, by reason."""
    counts = {}
    for reason in list(REFUSED_USERS.values()) + list(REFUSED_GROUPS.values()):
        counts[reason] = counts.get(reason, 0) + 1
    return counts


# Names and ids of refused users as the server sent them: none may appear anywhere.
REFUSED_NAMES = ["evilroot", "lowuid", "maxuid", "biggeruid", "neguid", "stringuid",
                 "floatuid", "nouid", "relhome", "gecoscolon", "gecosctl", "homenl",
                 "dupuida", "dupuidb", "dupname", "notnobody", "nested", "frank",
                 "l" * 65]
REFUSED_UIDS = ["999", "3004", "3005", "3010", "3011", "3012", "3014", "3015",
                "3016", "3017", "3018", "3020", "3021", "3022", "3023", "3030"]

SAMPLE_LINES = {
    "alice": ALICE_LINE,
    "bob": "bob:x:1002:2001:Bob Baker:/srv/home/bob:/bin/bash",
    "carol": "carol:x:1003:1003:Carol Cook:/home/carol:/bin/bash",
    "dave": "dave:x:1004:1004:Dave Dunn:/home/dave:/bin/bash",
    "erin": "erin:x:1005:1005:Erin Evans:/home/erin:/bin/bash",
}
GOOD_LINES = {
    "hgood1": "hgood1:x:3001:3001:Hostile h-good1:/home/hgood1:/bin/bash",
    "hgood2": "hgood2:x:3002:4001:Hostile h-good2:/home/hgood2:/bin/bash",
    "nulluser": "nulluser:x:3003:3003::/home/nulluser:/bin/bash",
    "extraschema": "extraschema:x:3031:3031:Hostile h-extra:/home/extraschema:/bin/bash",
    # Names keep the server's case (issue 13): accepted, no longer refused.
    "UpperCase": "UpperCase:x:3013:3013:Hostile h-upper:/home/UpperCase:/bin/bash",
    "Frank": "Frank:x:3019:3019:Hostile h-derivedupper:/home/Frank:/bin/bash",
}
GOOD_GROUPS = {
    "devs": "devs:x:2001:alice,bob",
    "data_science": "data_science:x:2002:alice,carol",
    # members h-good1, h-root, h-colon, h-missing, h-dupuid-a, h-nested
    "hgroup": "hgroup:x:4001:hgood1",
    "group_123_weird_name_": "group_123_weird_name_:x:4002:hgood2",
    # members: ok one, one without value, a number, a bare string, null
    "badmembers": "badmembers:x:4012:hgood2",
}
