use super::*;
use crate::config::Config;
use crate::directory::mapping::{build_directory, map_user};
use crate::directory::model::{Refusal, RefusalReason};
use crate::scim::attributes::{GROUP_EXTENSION, USER_EXTENSION};
use serde_json::{json, Value};

/// A local group `team` (1600) no local user has.
fn local() -> LocalAccounts {
    LocalAccounts::parse(
        "root:x:0:0:root:/root:/bin/bash\n",
        "root:x:0:\nsudo:x:27:\nteam:x:1600:\n",
    )
}

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

fn private(name: &str, gid: u32) -> PosixGroup {
    PosixGroup {
        scim_id: String::new(),
        name: name.into(),
        gid,
        members: vec![],
    }
}

fn scim_group(name: &str, gid: u32, members: &[&str]) -> PosixGroup {
    PosixGroup {
        scim_id: format!("g-{name}"),
        name: name.into(),
        gid,
        members: members.iter().map(|m| m.to_string()).collect(),
    }
}

/// alice (5000, with her private group), bob (5001, in devs 2001), devs.
fn base() -> Directory {
    Directory {
        users: vec![user("alice", 5000, 5000), user("bob", 5001, 2001)],
        groups: vec![
            scim_group("devs", 2001, &["alice", "bob"]),
            private("alice", 5000),
        ],
        shadow: vec![ShadowEntry {
            name: "alice".into(),
            pwdp: "*".into(),
        }],
        refused: vec![],
        refused_group_gids: vec![],
        same_account: vec![],
    }
}

/// The copy `m` produces from `dir`: the rules return edits, the assertions read copies.
fn applied(dir: &Directory, m: Merge) -> Merge<Directory> {
    match m {
        Merge::Unchanged => Merge::Unchanged,
        Merge::Conflict => Merge::Conflict,
        Merge::Changed(change) => {
            let mut next = dir.clone();
            next.apply(&change);
            Merge::Changed(next)
        }
    }
}

fn merge_user(
    dir: &Directory,
    user: &PosixUser,
    upg: bool,
    local: &LocalAccounts,
) -> Merge<Directory> {
    applied(dir, super::merge_user(dir, user, upg, local))
}

fn merge_group(dir: &Directory, group: &PosixGroup) -> Merge<Directory> {
    applied(dir, super::merge_group(dir, group))
}

fn remove(dir: &Directory, gone: Gone<'_>) -> Option<Directory> {
    super::remove(dir, gone).map(|change| {
        let mut next = dir.clone();
        next.apply(&change);
        next
    })
}

fn changed(m: Merge<Directory>) -> Directory {
    match m {
        Merge::Changed(d) => d,
        other => panic!("expected a change, got {other:?}"),
    }
}

fn group_keys(d: &Directory) -> Vec<(String, u32, bool)> {
    let mut v: Vec<_> = d
        .groups
        .iter()
        .map(|g| (g.name.clone(), g.gid, g.scim_id.is_empty()))
        .collect();
    v.sort();
    v
}

#[test]
fn new_user_gets_a_private_group() {
    let d = changed(merge_user(
        &base(),
        &user("carol", 5002, 5002),
        true,
        &local(),
    ));
    assert!(d.users.iter().any(|u| u.name == "carol"));
    assert!(d.groups.contains(&private("carol", 5002)));
    // Sorted by uid and gid, as a full copy is.
    assert!(d.users.windows(2).all(|w| w[0].uid < w[1].uid));
    assert!(d.groups.windows(2).all(|w| w[0].gid < w[1].gid));
    // Not without user-private-groups.
    let d = changed(merge_user(
        &base(),
        &user("carol", 5002, 5002),
        false,
        &local(),
    ));
    assert!(!d.groups.iter().any(|g| g.name == "carol"));
}

#[test]
fn user_named_like_a_local_group_gets_no_private_group() {
    for name in ["team", "sudo"] {
        let d = changed(merge_user(&base(), &user(name, 5002, 5002), true, &local()));
        assert!(d.users.iter().any(|u| u.name == name), "the user is served");
        assert!(
            !d.groups.iter().any(|g| g.name == name || g.gid == 5002),
            "{name}"
        );
    }
}

#[test]
fn user_with_a_local_groups_gid_gets_no_private_group() {
    // Allowed by local-primary-gids (map_user refuses it otherwise): served, and the
    // local group stays the only group with gid 1600.
    let d = changed(merge_user(
        &base(),
        &user("gil", 5002, 1600),
        true,
        &local(),
    ));
    assert!(d.users.iter().any(|u| u.name == "gil"));
    assert!(!d.groups.iter().any(|g| g.gid == 1600 || g.name == "gil"));
}

#[test]
fn user_named_like_a_directory_group_or_with_its_gid_gets_no_private_group() {
    let d = changed(merge_user(
        &base(),
        &user("devs", 5002, 5002),
        true,
        &local(),
    ));
    assert_eq!(d.groups.iter().filter(|g| g.name == "devs").count(), 1);
    assert!(!d.groups.iter().any(|g| g.gid == 5002));
    let d = changed(merge_user(
        &base(),
        &user("dan", 5003, 2001),
        true,
        &local(),
    ));
    assert_eq!(d.groups.iter().filter(|g| g.gid == 2001).count(), 1);
}

#[test]
fn no_private_group_stands_in_for_a_scim_group_the_copy_refused() {
    let cfg = Config::from_pairs(&[("server-address", "https://wb.example.com")]).unwrap();
    // `admin` (6000) is refused (reserved name), but the server says gid 6000 is its.
    let groups = [json!({"id": "g-admin", "displayName": "admin",
                         GROUP_EXTENSION: {"posixGroupId": 6000, "posixGroupName": "admin"}})];
    let copy = build_directory(&[], &groups, None, &cfg, &local());
    assert_eq!(copy.refused_group_gids, vec![6000]);
    let d = changed(merge_user(&copy, &user("fay", 5007, 6000), true, &local()));
    assert!(d.users.iter().any(|u| u.name == "fay"));
    assert!(d.groups.is_empty(), "{:?}", d.groups);
}

#[test]
fn a_shared_gid_takes_the_private_group_away_as_a_full_copy_does() {
    let d = changed(merge_user(
        &base(),
        &user("eve", 5004, 5000),
        true,
        &local(),
    ));
    assert!(!d.groups.iter().any(|g| g.gid == 5000), "{:?}", d.groups);
}

#[test]
fn name_or_uid_held_by_another_entry_is_a_conflict() {
    let mut other = user("alice", 5009, 5009);
    other.scim_id = "u-other".into();
    assert_eq!(merge_user(&base(), &other, true, &local()), Merge::Conflict);
    let mut reused = user("zed", 5000, 5000);
    reused.scim_id = "u-zed".into();
    assert_eq!(
        merge_user(&base(), &reused, true, &local()),
        Merge::Conflict
    );
    assert_eq!(
        merge_user(&base(), &user("alice", 5000, 5000), true, &local()),
        Merge::Unchanged
    );
}

#[test]
fn renamed_user_keeps_memberships_and_its_private_group_follows() {
    let mut renamed = user("alicia", 5000, 5000);
    renamed.scim_id = "u-alice".into();
    let d = changed(merge_user(&base(), &renamed, true, &local()));
    assert_eq!(d.users.iter().filter(|u| u.scim_id == "u-alice").count(), 1);
    let devs = d.groups.iter().find(|g| g.name == "devs").unwrap();
    assert_eq!(devs.members, vec!["alicia", "bob"]);
    assert!(d.groups.contains(&private("alicia", 5000)));
    assert!(!d.groups.iter().any(|g| g.name == "alice"));
    assert!(d.shadow.is_empty(), "the old name's hash is dropped");
}

#[test]
fn renamed_to_a_local_group_name_loses_the_private_group() {
    let mut renamed = user("team", 5000, 5000);
    renamed.scim_id = "u-alice".into();
    let d = changed(merge_user(&base(), &renamed, true, &local()));
    assert!(!d.groups.iter().any(|g| g.gid == 5000 || g.name == "team"));
}

#[test]
fn private_group_dropped_when_the_user_moves_to_a_directory_group() {
    let mut moved = user("alice", 5000, 2001);
    moved.scim_id = "u-alice".into();
    let d = changed(merge_user(&base(), &moved, true, &local()));
    assert!(!d.groups.iter().any(|g| g.scim_id.is_empty()));
}

#[test]
fn private_groups_the_local_files_now_refuse_are_dropped_on_the_next_merge() {
    let local = LocalAccounts::parse("root:x:0:0::/:/bin/sh\n", "root:x:0:\nalice:x:1700:\n");
    let d = changed(merge_user(
        &base(),
        &user("carol", 5002, 5002),
        true,
        &local,
    ));
    assert!(!d.groups.iter().any(|g| g.name == "alice"));
}

#[test]
fn scim_group_replaces_a_private_group_and_conflicts_with_another_scim_group() {
    let d = changed(merge_group(&base(), &scim_group("alice", 7000, &[])));
    assert_eq!(
        group_keys(&d),
        vec![("alice".into(), 7000, false), ("devs".into(), 2001, false)]
    );
    let d = changed(merge_group(&base(), &scim_group("ops", 5000, &[])));
    assert!(!d.groups.iter().any(|g| g.name == "alice"));
    let mut same_name = scim_group("devs", 7001, &[]);
    same_name.scim_id = "g-devs2".into();
    assert_eq!(merge_group(&base(), &same_name), Merge::Conflict);
    // The same SCIM id renumbered is that group's new version.
    let d = changed(merge_group(&base(), &scim_group("devs", 7001, &[])));
    assert_eq!(d.groups.iter().filter(|g| g.name == "devs").count(), 1);
    assert_eq!(
        merge_group(&base(), &scim_group("other", 2001, &[])),
        Merge::Conflict
    );
    assert_eq!(
        merge_group(&base(), &scim_group("devs", 2001, &["alice", "bob"])),
        Merge::Unchanged
    );
}

#[test]
fn removed_user_takes_its_traces_along() {
    let d = remove(&base(), Gone::UserName("alice")).unwrap();
    assert!(!d.users.iter().any(|u| u.name == "alice"));
    assert!(!d.groups.iter().any(|g| g.name == "alice"));
    assert_eq!(d.groups[0].members, vec!["bob"]);
    assert!(d.shadow.is_empty());
    assert!(remove(&base(), Gone::Uid(9999)).is_none());
    // A private group is never removed on its own.
    assert!(remove(&base(), Gone::GroupName("alice")).is_none());
    assert!(remove(&base(), Gone::Gid(5000)).is_none());
    let d = remove(&base(), Gone::Gid(2001)).unwrap();
    assert!(!d.groups.iter().any(|g| g.name == "devs"));
}

#[test]
fn merging_users_one_by_one_gives_the_groups_of_a_full_copy() {
    let cfg = Config::from_pairs(&[("server-address", "https://wb.example.com")]).unwrap();
    let local = local();
    let u = |id: &str, name: &str, uid: u32, gid: Option<u32>| {
        let mut v = json!({"id": id, "userName": format!("{name}@x"),
                           USER_EXTENSION: {"posixUserId": uid, "posixUserName": name}});
        if let Some(gid) = gid {
            v[USER_EXTENSION]["posixGroupId"] = json!(gid);
        }
        v
    };
    let users: Vec<Value> = vec![
        u("u1", "ann", 5000, None),
        u("u2", "team", 5001, None),
        u("u3", "devs", 5002, None),
        u("u4", "ben", 5003, Some(2001)),
        u("u5", "cy", 5004, Some(7000)),
        u("u6", "di", 5005, Some(7000)),
        u("u7", "ed", 5006, Some(1600)),
    ];
    let groups = vec![
        json!({"id": "g1", "displayName": "devs", "members": [{"value": "u4"}],
                             GROUP_EXTENSION: {"posixGroupId": 2001, "posixGroupName": "devs"}}),
    ];
    let full = build_directory(&users, &groups, None, &cfg, &local);
    let mut dir = build_directory(&[], &groups, None, &cfg, &local);
    for v in &users {
        if let Ok(user) = map_user(v, &cfg, &local) {
            if let Merge::Changed(next) = merge_user(&dir, &user, true, &local) {
                dir = next;
            }
        }
    }
    assert_eq!(full.users, dir.users);
    assert_eq!(group_keys(&full), group_keys(&dir));
}

#[test]
fn duplicates_refused_by_the_copy_stay_refused() {
    let refusal = |kind, id: &str, reason| Refusal {
        kind,
        scim_id: id.to_string(),
        reason,
        detail: String::new(),
    };
    let copy = Directory {
        refused: vec![
            refusal(EntryKind::User, "u-dup", RefusalReason::DuplicateId),
            refusal(EntryKind::User, "u-dupname", RefusalReason::DuplicateName),
            refusal(EntryKind::Group, "g-dup", RefusalReason::DuplicateId),
            refusal(EntryKind::User, "u-bad", RefusalReason::InvalidName),
        ],
        ..Directory::default()
    };
    assert!(refused_as_duplicate(&copy, EntryKind::User, "u-dup"));
    assert!(refused_as_duplicate(&copy, EntryKind::User, "u-dupname"));
    assert!(refused_as_duplicate(&copy, EntryKind::Group, "g-dup"));
    // Another kind, another id, or a per-entry reason (mapping decides afresh).
    assert!(!refused_as_duplicate(&copy, EntryKind::Group, "u-dup"));
    assert!(!refused_as_duplicate(&copy, EntryKind::User, "u-other"));
    assert!(!refused_as_duplicate(&copy, EntryKind::User, "u-bad"));
}

#[test]
fn a_cached_copy_is_held_to_todays_rules() {
    let cfg = Config::from_pairs(&[
        ("server-address", "https://wb.example.com"),
        ("home-must-be-under", "/home"),
    ])
    .unwrap();
    let mut dir = base();
    // Written by an older daemon: a user named like a reserved name, one with a local
    // group's gid, a home outside the roots, a private group named like a local group,
    // a SCIM group with a reserved name.
    let mut outside = user("olga", 5010, 5010);
    outside.home = "/srv/olga".into();
    dir.users
        .extend([user("admin", 5011, 5011), user("gus", 5012, 1600), outside]);
    dir.users.push(user("team", 5013, 5013));
    dir.groups.extend([
        private("admin", 5011),
        private("team", 5013),
        private("olga", 5010),
        scim_group("wheel", 2500, &["alice"]),
    ]);
    dir.groups[0].members.push("admin".into());
    let (next, refused) = recheck(&dir, &cfg, &local());
    let names: Vec<&str> = next.users.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, vec!["alice", "bob", "team"]);
    assert_eq!(
        group_keys(&next),
        vec![("alice".into(), 5000, true), ("devs".into(), 2001, false)]
    );
    assert_eq!(
        next.groups
            .iter()
            .find(|g| g.name == "devs")
            .unwrap()
            .members,
        vec!["alice", "bob"]
    );
    let mut reasons: Vec<(&str, &str)> = refused
        .iter()
        .map(|r| (r.scim_id.as_str(), r.reason.as_str()))
        .collect();
    reasons.sort();
    assert_eq!(
        reasons,
        vec![
            ("g-wheel", "reserved_name"),
            ("u-admin", "reserved_name"),
            ("u-gus", "primary_gid_is_local"),
            ("u-olga", "home_outside_roots"),
        ]
    );
    // Today's copy of an unchanged directory is unchanged.
    let cfg = Config::from_pairs(&[("server-address", "https://wb.example.com")]).unwrap();
    assert_eq!(recheck(&base(), &cfg, &local()), (base(), vec![]));
}

#[test]
fn a_merge_changes_only_the_entries_it_concerns() {
    use crate::directory::change::Edit;
    // A new user: the user and its private group, nothing else.
    let change = match super::merge_user(&base(), &user("carol", 5002, 5002), true, &local()) {
        Merge::Changed(c) => c,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        change.edits,
        vec![
            Edit::PutUser(user("carol", 5002, 5002)),
            Edit::PutGroup(private("carol", 5002)),
        ]
    );
    // A renamed user: the user, the groups listing it, its private group moved, its
    // old name's hash dropped.
    let mut renamed = user("alicia", 5000, 5000);
    renamed.scim_id = "u-alice".into();
    let change = match super::merge_user(&base(), &renamed, true, &local()) {
        Merge::Changed(c) => c,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        change.edits,
        vec![
            Edit::RemoveShadow {
                name: "alice".into()
            },
            Edit::PutUser(renamed.clone()),
            Edit::PutGroup(scim_group("devs", 2001, &["alicia", "bob"])),
            Edit::PutGroup(private("alicia", 5000)),
        ]
    );
    // A user gone: it, its private group, its hash and its memberships.
    let change = super::remove(&base(), Gone::Uid(5000)).unwrap();
    assert_eq!(
        change.edits,
        vec![
            Edit::RemoveUser { uid: 5000 },
            Edit::RemoveGroup { gid: 5000 },
            Edit::RemoveShadow {
                name: "alice".into()
            },
            Edit::PutGroup(scim_group("devs", 2001, &["bob"])),
        ]
    );
}

#[test]
fn shadow_merges_replace_the_hash_of_one_user() {
    let entry = ShadowEntry {
        name: "alice".into(),
        pwdp: "$6$salt$hash".into(),
    };
    let d = match applied(&base(), super::merge_shadow(&base(), "u-alice", &entry)) {
        Merge::Changed(d) => d,
        other => panic!("{other:?}"),
    };
    assert_eq!(d.shadow, vec![entry.clone()]);
    assert_eq!(super::merge_shadow(&d, "u-alice", &entry), Merge::Unchanged);
    // Fetched for a user since replaced under that name (another SCIM id), or removed:
    // not merged, so the new account never gets the old one's hash.
    assert_eq!(
        super::merge_shadow(&d, "u-old-alice", &entry),
        Merge::Unchanged
    );
    let gone = remove(&d, Gone::UserName("alice")).unwrap();
    assert_eq!(
        super::merge_shadow(&gone, "u-alice", &entry),
        Merge::Unchanged
    );
}

#[test]
fn a_taken_over_account_merged_alone_is_marked_and_gets_no_private_group() {
    let l = LocalAccounts::parse(
        "root:x:0:0:root:/root:/bin/bash\nmigrated:x:5500:5500::/home/migrated:/bin/sh\n",
        "root:x:0:\n",
    );
    let next = changed(merge_user(&base(), &user("migrated", 5500, 5500), true, &l));
    assert_eq!(next.same_account, vec!["migrated".to_string()]);
    assert!(!next.groups.iter().any(|g| g.name == "migrated"));
    // Gone from the server: no longer marked.
    let gone = remove(&next, Gone::Uid(5500)).unwrap();
    assert!(gone.same_account.is_empty());
    // A cached copy held to today's rules: still the same account, not refused.
    let (held, refused) = recheck(
        &next,
        &Config::from_pairs(&[("server-address", "https://h")]).unwrap(),
        &l,
    );
    assert!(refused.is_empty(), "{refused:?}");
    assert_eq!(held.same_account, vec!["migrated".to_string()]);
}

#[test]
fn names_equal_ignoring_case_are_one_name() {
    // `Alice` from another SCIM id conflicts with `alice` (sudo matches either to the
    // other's rules); the same user renamed in case only is merged.
    let mut other = user("Alice", 5009, 5009);
    other.scim_id = "u-other".into();
    assert_eq!(merge_user(&base(), &other, true, &local()), Merge::Conflict);
    let mut recased = user("Alice", 5000, 5000);
    recased.scim_id = "u-alice".into();
    let d = changed(merge_user(&base(), &recased, true, &local()));
    assert!(d.users.iter().any(|u| u.name == "Alice"));
    // A SCIM group `DEVS` from another SCIM id conflicts with `devs`; a user `Team` gets
    // no private group (a local group `team` exists); nor does `Devs` (a directory group).
    let mut devs = scim_group("DEVS", 7002, &[]);
    devs.scim_id = "g-other".into();
    assert_eq!(merge_group(&base(), &devs), Merge::Conflict);
    let d = changed(merge_user(
        &base(),
        &user("Team", 5003, 5003),
        true,
        &local(),
    ));
    assert!(!d.groups.iter().any(|g| g.gid == 5003), "{:?}", d.groups);
    let d = changed(merge_user(
        &base(),
        &user("Devs", 5004, 5004),
        true,
        &local(),
    ));
    assert!(!d.groups.iter().any(|g| g.gid == 5004), "{:?}", d.groups);
}
