use super::*;
use crate::directory::local_accounts::LocalAccounts;
use crate::directory::merge::{self, Gone, Merge};
use workbench_wire::record::{GroupRecord, PasswdRecord, ShadowRecord};

fn user(name: &str, uid: u32, gid: u32) -> PosixUser {
    PosixUser {
        scim_id: format!("u-{name}"),
        name: name.into(),
        uid,
        gid,
        gecos: String::new(),
        home: format!("/home/{name}"),
        shell: "/bin/bash".into(),
        active: true,
    }
}

fn dir() -> Directory {
    Directory {
        users: vec![user("alice", 1001, 1001), user("bob", 1002, 2001)],
        groups: vec![
            PosixGroup {
                scim_id: String::new(),
                name: "alice".into(),
                gid: 1001,
                members: vec![],
            },
            PosixGroup {
                scim_id: "g".into(),
                name: "devs".into(),
                gid: 2001,
                members: vec!["alice".into(), "bob".into()],
            },
        ],
        shadow: vec![ShadowEntry {
            name: "alice".into(),
            pwdp: "$6$x$y".into(),
        }],
        refused: vec![],
        refused_group_gids: vec![],
        same_account: vec![],
    }
}

#[test]
fn keyed_lookups() {
    let s = Snapshot::from_directory(dir());
    let rec = PasswdRecord::decode(s.passwd_record_by_name("alice").unwrap()).unwrap();
    assert_eq!(rec.uid, 1001);
    assert_eq!(rec.passwd, b"x");
    assert!(s.passwd_record_by_uid(1002).is_some());
    assert!(s.passwd_record_by_name("carol").is_none());
    let g = GroupRecord::decode(s.group_record_by_gid(2001).unwrap()).unwrap();
    assert_eq!(g.members, vec![b"alice".as_slice(), b"bob".as_slice()]);
    assert_eq!(s.memberships("alice").unwrap(), vec![1001, 2001]);
    assert_eq!(s.memberships("bob").unwrap(), vec![2001]);
    assert!(s.memberships("devs").is_none());
    let record = s.shadow_record("alice").unwrap();
    let sh = ShadowRecord::decode(&record).unwrap();
    assert_eq!(sh.lstchg, -1);
    assert!(s.shadow_record("bob").is_none());
}

#[test]
fn pages_walk_in_key_order() {
    let s = Snapshot::from_directory(dir());
    let p1 = s.passwd_page(None, 1, usize::MAX);
    assert_eq!(p1.records.len(), 1);
    assert_eq!(p1.last_key, Some(1001));
    assert!(!p1.done);
    let p2 = s.passwd_page(p1.last_key, 1, usize::MAX);
    assert_eq!(p2.last_key, Some(1002));
    assert!(p2.done);
    let p3 = s.passwd_page(p2.last_key, 10, usize::MAX);
    assert!(p3.records.is_empty());
    assert!(p3.done);
    // Shadow pages are keyed by the owner's uid and skip users without a hash.
    let mut buf = Vec::new();
    let sh = s.shadow_page(None, 10, usize::MAX, &mut buf);
    assert_eq!(
        (sh.records.len(), sh.last_key, sh.done),
        (1, Some(1001), true)
    );
}

#[test]
fn held_ids_are_the_users_and_scim_groups() {
    let s = Snapshot::from_directory(dir());
    let (users, groups) = s.held_ids();
    assert_eq!(
        users,
        vec![("u-alice".to_string(), 1001), ("u-bob".to_string(), 1002)]
    );
    // The private group `alice` has no SCIM id: not listed.
    assert_eq!(groups, vec![("g".to_string(), 2001)]);
}

#[test]
fn round_trips_a_full_copy() {
    let d = dir();
    assert_eq!(Snapshot::from_directory(d.clone()).to_directory(), d);
}

/// A tiny deterministic generator (xorshift), so the test needs no extra crate.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u32) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % u64::from(n)) as u32
    }
}

/// Thousands of random merges and removals applied both to the reference copy
/// (`Directory::apply`, linear scans) and to the snapshot (indexes, in place): after
/// each, the two copies, every lookup and every membership list agree.
#[test]
fn merges_applied_in_place_match_the_reference_copy() {
    // gus 5005 is a local account the directory may take over (same name and uid).
    let local = LocalAccounts::parse(
        "root:x:0:0::/:/bin/sh\ngus:x:5005:5005::/home/gus:/bin/sh\n",
        "root:x:0:\nteam:x:1600:\nstaff:x:1700:\n",
    );
    let names = [
        "ann", "ben", "cy", "di", "ed", "team", "devs", "ops", "fay", "gus",
    ];
    let mut reference = Directory::default();
    let mut snap = Snapshot::from_directory(reference.clone());
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for step in 0..4000 {
        let name = names[rng.below(names.len() as u32) as usize];
        let pick = rng.below(10);
        let change = match pick {
            0..=4 => {
                // A user, sometimes renamed or renumbered under the same SCIM id.
                let mut u = user(name, 5000 + rng.below(12), 5000 + rng.below(12));
                if rng.below(4) == 0 {
                    u.gid = [1600, 1700, 2001, 2002][rng.below(4) as usize];
                }
                u.scim_id = format!("u-{}", rng.below(8));
                match merge::merge_user(&reference, &u, rng.below(5) != 0, &local) {
                    Merge::Changed(c) => Some(c),
                    _ => None,
                }
            }
            5..=6 => {
                let members: Vec<String> = (0..rng.below(4))
                    .map(|_| names[rng.below(names.len() as u32) as usize].to_string())
                    .filter(|n| reference.user_by_name(n).is_some())
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                let g = PosixGroup {
                    scim_id: format!("g-{}", rng.below(4)),
                    name: name.to_string(),
                    gid: [2001, 2002, 5003, 5004][rng.below(4) as usize],
                    members,
                };
                match merge::merge_group(&reference, &g) {
                    Merge::Changed(c) => Some(c),
                    _ => None,
                }
            }
            7 => merge::remove(&reference, Gone::UserName(name)),
            8 => merge::remove(&reference, Gone::Gid(2001 + rng.below(2))),
            _ => reference.users.first().cloned().and_then(|u| {
                let e = ShadowEntry {
                    name: u.name,
                    pwdp: format!("$6${step}$h"),
                };
                match merge::merge_shadow(&reference, &u.scim_id, &e) {
                    Merge::Changed(c) => Some(c),
                    _ => None,
                }
            }),
        };
        // The snapshot must compute the same change as the reference.
        let Some(change) = change else { continue };
        reference.apply(&change);
        snap.apply(&change);
        let mut expected = reference.clone();
        expected
            .shadow
            .sort_by_key(|s| reference.user_by_name(&s.name).map(|u| u.uid));
        assert_eq!(snap.to_directory(), expected, "step {step}: {change:?}");
        for u in &reference.users {
            assert_eq!(snap.user_by_name(&u.name).as_ref(), Some(u));
            assert_eq!(snap.user_by_scim_id(&u.scim_id).as_ref(), Some(u));
            assert_eq!(snap.users_with_gid(u.gid), reference.users_with_gid(u.gid));
            assert_eq!(
                snap.groups_listing(&u.name),
                reference.groups_listing(&u.name)
            );
        }
        for u in &reference.users {
            assert_eq!(
                snap.user_named_like(&u.name.to_ascii_uppercase()).as_ref(),
                Some(u)
            );
        }
        for g in &reference.groups {
            assert_eq!(
                snap.gid_of_group_named_like(&g.name.to_ascii_lowercase()),
                Some(g.gid)
            );
            assert_eq!(snap.group_by_name(&g.name).as_ref(), Some(g));
            assert_eq!(snap.gid_of_group(&g.name), Some(g.gid));
            assert_eq!(
                snap.group_summary(g.gid).map(|s| s.name),
                Some(g.name.clone())
            );
        }
    }
}

/// Memory of a 100,000-user snapshot (run by hand: `cargo test --release -p cached
/// snapshot_memory -- --ignored --nocapture`).
#[test]
#[ignore]
fn snapshot_memory() {
    fn rss_anon_kib() -> u64 {
        let s = std::fs::read_to_string("/proc/self/status").unwrap();
        s.lines()
            .find(|l| l.starts_with("RssAnon:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap()
            .parse()
            .unwrap()
    }
    let n = 100_000u32;
    let mut dir = Directory::default();
    for i in 0..n {
        let mut u = user(&format!("u{i:06}"), 10_000 + i, 10_000 + i);
        u.scim_id = format!("id-u{i:06}");
        u.gecos = format!("User {i:06}");
        dir.users.push(u);
        dir.shadow.push(ShadowEntry {
            name: format!("u{i:06}"),
            pwdp: format!("$6$saltsaltsaltsalt${}", "h".repeat(86)),
        });
    }
    for j in 0..10_000u32 {
        dir.groups.push(PosixGroup {
            scim_id: format!("id-g{j:05}"),
            name: format!("grp{j:05}"),
            gid: 200_000 + j,
            members: (0..25)
                .map(|k| format!("u{:06}", (j * 25 + k) % n))
                .collect(),
        });
    }
    let before = rss_anon_kib();
    let snap = Snapshot::from_directory(dir);
    // SAFETY: malloc_trim has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
    let after = rss_anon_kib();
    println!(
        "snapshot of {} users: RssAnon {} MiB before, {} MiB after (directory freed); \
         record buffer {} MiB",
        snap.counts().users,
        before / 1024,
        after / 1024,
        snap.record_bytes() / (1 << 20)
    );
    // The same snapshot built again with no directory around it: its own size.
    let again = Snapshot::from_directory(snap.to_directory());
    drop(snap);
    // SAFETY: as above.
    unsafe {
        libc::malloc_trim(0);
    }
    println!("rebuilt alone: RssAnon {} MiB", rss_anon_kib() / 1024);
    drop(again);
    // SAFETY: as above.
    unsafe {
        libc::malloc_trim(0);
    }
    println!("nothing: RssAnon {} MiB", rss_anon_kib() / 1024);
}

/// Merges that replace large records leave garbage; past half the buffer it is
/// compacted, and every record, name, member and hash still reads back the same.
#[test]
fn compaction_keeps_every_record() {
    let mut reference = dir();
    let mut snap = Snapshot::from_directory(dir());
    for round in 0..40 {
        let mut alice = reference.users[0].clone();
        alice.gecos = format!("{round} {}", "g".repeat(60_000));
        let change = Change {
            edits: vec![
                Edit::PutUser(alice),
                Edit::PutShadow(ShadowEntry {
                    name: "alice".into(),
                    pwdp: format!("$6${round}$h"),
                }),
            ],
        };
        reference.apply(&change);
        snap.apply(&change);
    }
    let (used, garbage) = snap.heap.sizes();
    assert!(
        used < 40 * 60_000 / 2,
        "compacted: {used} bytes, {garbage} garbage"
    );
    assert_eq!(snap.to_directory(), reference);
    assert_eq!(snap.memberships("alice").unwrap(), vec![1001, 2001]);
    assert_eq!(snap.shadow_of("alice").unwrap().pwdp, "$6$39$h".to_string());
}
