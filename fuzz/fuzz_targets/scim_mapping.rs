//! SCIM JSON → POSIX entries (`directory::mapping::build_directory`, hence `map_user`,
//! `map_group` and the shadow mapping), with and without user private groups.
//!
//! Input: a JSON object `{"users": [...], "groups": [...], "admin": [...]}` (any key may
//! be missing; a top-level array serves as users, groups and admin at once). Checks: no
//! panic, and the directory the module will be served is consistent: unique names and
//! ids, sorted, no byte that cannot go into a passwd/group line or a C string.
#![no_main]

use std::collections::HashSet;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use serde_json::Value;

use cached::config::Config;
use cached::directory::{build_directory, LocalAccounts};

fn configs() -> &'static [Config; 2] {
    static CONFIGS: OnceLock<[Config; 2]> = OnceLock::new();
    CONFIGS.get_or_init(|| {
        let with = |upg: &str| {
            Config::from_pairs(&[
                ("server-address", "https://workbench.example"),
                ("user-private-groups", upg),
                ("min-uid", "1000"),
                ("min-gid", "1000"),
            ])
            .expect("fuzz config")
        };
        [with("true"), with("false")]
    })
}

fn local() -> &'static LocalAccounts {
    static LOCAL: OnceLock<LocalAccounts> = OnceLock::new();
    LOCAL.get_or_init(|| {
        LocalAccounts::parse(
            "root:x:0:0:root:/root:/bin/bash\nlocal:x:1500:1500::/home/local:/bin/sh\n",
            "root:x:0:\nusers:x:100:\nlocal:x:1500:\n",
        )
    })
}

fn array<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn printable(field: &str, s: &str) {
    assert!(
        !s.bytes().any(|b| b == 0 || b == b'\n' || b == b':'),
        "{field} {s:?} cannot be served"
    );
}

fuzz_target!(|data: &[u8]| {
    let Ok(doc) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let (users, groups, admin) = match &doc {
        Value::Array(all) => (&all[..], &all[..], Some(&all[..])),
        v => (
            array(v, "users"),
            array(v, "groups"),
            v.get("admin").and_then(Value::as_array).map(Vec::as_slice),
        ),
    };
    for cfg in configs() {
        let d = build_directory(users, groups, admin, cfg, local());
        let mut names = HashSet::new();
        let mut uids = HashSet::new();
        for u in &d.users {
            assert!(names.insert(&u.name), "duplicate user name {}", u.name);
            assert!(uids.insert(u.uid), "duplicate uid {}", u.uid);
            assert!(u.uid >= cfg.min_uid && u.uid != u32::MAX, "uid {}", u.uid);
            printable("name", &u.name);
            printable("home", &u.home);
            printable("shell", &u.shell);
            printable("gecos", &u.gecos);
        }
        assert!(
            d.users.windows(2).all(|w| w[0].uid < w[1].uid),
            "users unsorted"
        );
        let mut gnames = HashSet::new();
        let mut gids = HashSet::new();
        for g in &d.groups {
            assert!(gnames.insert(&g.name), "duplicate group name {}", g.name);
            assert!(gids.insert(g.gid), "duplicate gid {}", g.gid);
            printable("group", &g.name);
            for m in &g.members {
                assert!(names.contains(m), "member {m} is not a served user");
            }
        }
        assert!(
            d.groups.windows(2).all(|w| w[0].gid < w[1].gid),
            "groups unsorted"
        );
        for s in &d.shadow {
            assert!(
                names.contains(&s.name),
                "shadow for unknown user {}",
                s.name
            );
            printable("shadow hash", &s.pwdp);
        }
    }
});
