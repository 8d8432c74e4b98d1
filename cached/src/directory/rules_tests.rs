use super::*;
use crate::directory::mapping::{build_directory, map_group, map_user};
use crate::scim::attributes::{GROUP_EXTENSION, USER_EXTENSION};
use serde_json::{json, Value};

fn cfg_with(pairs: &[(&str, &str)]) -> Config {
    let mut all = vec![("server-address", "https://wb.example.com")];
    all.extend_from_slice(pairs);
    Config::from_pairs(&all).unwrap()
}

/// A local group `team` (1600) no local user has, `localuser` (1500) and the usual
/// privileged groups.
fn local() -> LocalAccounts {
    LocalAccounts::parse(
        "root:x:0:0:root:/root:/bin/bash\nlocaluser:x:1500:1500::/home/localuser:/bin/sh\n",
        "root:x:0:\nsudo:x:27:\nshadow:x:42:\nteam:x:1600:\nlocaluser:x:1500:\n",
    )
}

fn user(id: &str, name: &str, uid: u64) -> Value {
    json!({
        "id": id,
        "userName": format!("{name}@example.com"),
        USER_EXTENSION: {"posixUserId": uid, "posixUserName": name}
    })
}

fn user_ext(mut v: Value, key: &str, value: Value) -> Value {
    v[USER_EXTENSION][key] = value;
    v
}

fn group(id: &str, name: &str, gid: u64) -> Value {
    json!({"id": id, "displayName": name, GROUP_EXTENSION: {"posixGroupId": gid, "posixGroupName": name}})
}

fn user_reason(v: &Value, cfg: &Config) -> Option<RefusalReason> {
    map_user(v, cfg, &local()).err().map(|r| r.reason)
}

fn group_reason(v: &Value, cfg: &Config) -> Option<RefusalReason> {
    map_group(v, cfg, &local()).err().map(|r| r.reason)
}

#[test]
fn reserved_names_refuse_users_and_groups_without_local_accounts() {
    let cfg = cfg_with(&[]);
    assert!(!local().group_names.contains("admin"));
    assert_eq!(
        user_reason(&user("u-admin", "admin", 5000), &cfg),
        Some(RefusalReason::ReservedName)
    );
    assert_eq!(
        group_reason(&group("g-admin", "admin", 5000), &cfg),
        Some(RefusalReason::ReservedName)
    );
    assert_eq!(
        group_reason(&group("g-wheel", "wheel", 5001), &cfg),
        Some(RefusalReason::ReservedName)
    );
    // A local collision is reported as such, as before reserved names existed.
    assert_eq!(
        group_reason(&group("g-sudo", "sudo", 5002), &cfg),
        Some(RefusalReason::CollidesWithLocal)
    );
    // A name derived from userName is checked too.
    let derived = json!({"id": "u-d", "userName": "docker@example.com",
                         USER_EXTENSION: {"posixUserId": 5003}});
    assert_eq!(
        user_reason(&derived, &cfg),
        Some(RefusalReason::ReservedName)
    );
}

#[test]
fn reserved_names_value_replaces_the_default() {
    let cfg = cfg_with(&[("reserved-names", "ops")]);
    assert_eq!(user_reason(&user("u-admin", "admin", 5000), &cfg), None);
    assert_eq!(
        user_reason(&user("u-ops", "ops", 5001), &cfg),
        Some(RefusalReason::ReservedName)
    );
    let none = cfg_with(&[("reserved-names", "")]);
    assert_eq!(user_reason(&user("u-admin", "admin", 5000), &none), None);
}

#[test]
fn primary_gid_of_a_local_group_is_refused_unless_listed() {
    let cfg = cfg_with(&[]);
    let u = user_ext(user("u-g", "gina", 5000), "posixGroupId", json!(1600));
    assert_eq!(
        user_reason(&u, &cfg),
        Some(RefusalReason::PrimaryGidIsLocal)
    );
    // Also when the gid comes from the uid (no posixGroupId).
    assert_eq!(
        user_reason(&user("u-h", "hank", 1600), &cfg),
        Some(RefusalReason::PrimaryGidIsLocal)
    );
    let allowed = cfg_with(&[("local-primary-gids", "1600")]);
    assert_eq!(user_reason(&u, &allowed), None);
    // Listing a gid allows only that one.
    let other = cfg_with(&[("local-primary-gids", "1700")]);
    assert_eq!(
        user_reason(&u, &other),
        Some(RefusalReason::PrimaryGidIsLocal)
    );
    // A listed local gid is accepted below min-gid; an unlisted one, or one no local
    // group has, is not.
    let low = user_ext(user("u-u", "ursula", 5001), "posixGroupId", json!(27));
    assert_eq!(user_reason(&low, &cfg), Some(RefusalReason::IdBelowMinimum));
    let listed = cfg_with(&[("local-primary-gids", "27,99")]);
    assert_eq!(map_user(&low, &listed, &local()).unwrap().gid, 27);
    let not_local = user_ext(user("u-v", "vera", 5002), "posixGroupId", json!(99));
    assert_eq!(
        user_reason(&not_local, &listed),
        Some(RefusalReason::IdBelowMinimum)
    );
    let zero = user_ext(user("u-w", "walt", 5003), "posixGroupId", json!(0));
    assert_eq!(
        user_reason(&zero, &listed),
        Some(RefusalReason::IdBelowMinimum)
    );
    // A local uid still collides first.
    assert_eq!(
        user_reason(&user("u-l", "lou", 1500), &cfg),
        Some(RefusalReason::CollidesWithLocal)
    );
}

#[test]
fn homes_must_be_normalised_and_under_the_roots() {
    let cfg = cfg_with(&[]);
    let with_home = |h: &str| user_ext(user("u-h", "harry", 5000), "homeDirectory", json!(h));
    for bad in [
        "/home/../etc/systemd/system/x.service.d",
        "/home/./harry",
        "/home//harry",
        "/home/harry/",
    ] {
        assert_eq!(
            user_reason(&with_home(bad), &cfg),
            Some(RefusalReason::HomeNotNormalised),
            "{bad}"
        );
    }
    let roots = cfg_with(&[("home-must-be-under", "/home,/srv/homes")]);
    for ok in ["/home/harry", "/srv/homes/h/harry"] {
        assert_eq!(user_reason(&with_home(ok), &roots), None, "{ok}");
    }
    for bad in [
        "/homeX/harry",
        "/home",
        "/srv/homesick/harry",
        "/etc/harry",
        "/",
    ] {
        assert_eq!(
            user_reason(&with_home(bad), &roots),
            Some(RefusalReason::HomeOutsideRoots),
            "{bad}"
        );
    }
    // A home derived from home-root goes through the same checks.
    let derived = cfg_with(&[("home-root", "/users"), ("home-must-be-under", "/home")]);
    assert_eq!(
        user_reason(&user("u-h", "harry", 5000), &derived),
        Some(RefusalReason::HomeOutsideRoots)
    );
    let dotted = cfg_with(&[("home-root", "/home/../etc")]);
    assert_eq!(
        user_reason(&user("u-h", "harry", 5000), &dotted),
        Some(RefusalReason::HomeNotNormalised)
    );
}

#[test]
fn strictly_below_is_component_wise() {
    assert!(is_strictly_below("/home/a", "/home"));
    assert!(is_strictly_below("/home/a/b", "/home"));
    assert!(!is_strictly_below("/home", "/home"));
    assert!(!is_strictly_below("/homeX/a", "/home"));
    assert!(is_strictly_below("/a", "/"));
    assert!(!is_strictly_below("/", "/"));
}

fn posix_user(name: &str, uid: u32, gid: u32) -> PosixUser {
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

fn scim_group(name: &str, gid: u32) -> PosixGroup {
    PosixGroup {
        scim_id: format!("g-{name}"),
        name: name.into(),
        gid,
        members: vec![],
    }
}

#[test]
fn private_group_never_takes_a_local_or_directory_name_or_gid() {
    let l = local();
    let groups = [scim_group("devs", 2001)];
    let check = |u: &PosixUser| {
        let space = GroupClaims::of(&groups, std::slice::from_ref(u));
        private_group(u, &space, &l)
    };
    assert_eq!(
        check(&posix_user("alice", 5000, 5000)).map(|g| (g.name, g.gid)),
        Ok(("alice".to_string(), 5000))
    );
    // Named like a local group (`sudo`-like) that is not a local user.
    assert_eq!(
        check(&posix_user("team", 5001, 5001)),
        Err(NoPrivateGroup::NameTaken)
    );
    assert_eq!(
        check(&posix_user("sudo", 5001, 5001)),
        Err(NoPrivateGroup::NameTaken)
    );
    // Named like a directory group.
    assert_eq!(
        check(&posix_user("devs", 5002, 5002)),
        Err(NoPrivateGroup::NameTaken)
    );
    // A directory group's gid: the user belongs to it.
    assert_eq!(
        check(&posix_user("bob", 5003, 2001)),
        Err(NoPrivateGroup::GidIsDirectoryGroup)
    );
    // A local group's gid (allowed as a primary gid by local-primary-gids).
    assert_eq!(
        check(&posix_user("carl", 5004, 1600)),
        Err(NoPrivateGroup::GidIsLocal)
    );
    // Two users sharing a gid.
    let pair = [posix_user("d1", 5005, 7000), posix_user("d2", 5006, 7000)];
    let space = GroupClaims::of(&groups, &pair);
    assert_eq!(
        private_group(&pair[0], &space, &l),
        Err(NoPrivateGroup::GidShared)
    );
}

#[test]
fn full_copy_applies_the_rules() {
    let cfg = cfg_with(&[]);
    let users = [
        user("u-ok", "okay", 5000),
        user("u-team", "team", 5001),
        user("u-admin", "admin", 5002),
        user_ext(user("u-gid", "gid", 5003), "posixGroupId", json!(1600)),
        user_ext(
            user("u-home", "home", 5004),
            "homeDirectory",
            json!("/home/../etc"),
        ),
    ];
    let groups = [group("g-admin", "admin", 6000), group("g-ok", "fine", 6001)];
    let d = build_directory(&users, &groups, None, &cfg, &local());
    let names: Vec<&str> = d.users.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, vec!["okay", "team"]);
    let groups: Vec<(&str, u32)> = d.groups.iter().map(|g| (g.name.as_str(), g.gid)).collect();
    // `team` is served but gets no private group: /etc/group has that name.
    assert_eq!(groups, vec![("okay", 5000), ("fine", 6001)]);
    let mut reasons: Vec<(&str, &str)> = d
        .refused
        .iter()
        .map(|r| (r.scim_id.as_str(), r.reason.as_str()))
        .collect();
    reasons.sort();
    assert_eq!(
        reasons,
        vec![
            ("g-admin", "reserved_name"),
            ("u-admin", "reserved_name"),
            ("u-gid", "primary_gid_is_local"),
            ("u-home", "home_not_normalised"),
        ]
    );
}

#[test]
fn reserved_names_ignore_case() {
    let cfg = cfg_with(&[]);
    for name in ["Root", "SUDO", "Admin"] {
        assert_eq!(
            user_reason(&user("u-r", name, 5000), &cfg),
            Some(RefusalReason::ReservedName),
            "{name}"
        );
    }
    assert_eq!(
        user_reason(&user("u-ok", "Administrator", 5000), &cfg),
        None
    );
}

#[test]
fn names_keep_their_case_and_derive_from_user_name() {
    let cfg = cfg_with(&[]);
    let derived = json!({
        "id": "u-js",
        "userName": "John.Smith@corp.example",
        USER_EXTENSION: {"posixUserId": 5010}
    });
    let u = map_user(&derived, &cfg, &local()).unwrap();
    assert_eq!(u.name, "John.Smith");
    assert_eq!(u.home, "/home/John.Smith");
    let given = user("u-up", "Mary-Ann_2", 5011);
    assert_eq!(map_user(&given, &cfg, &local()).unwrap().name, "Mary-Ann_2");
    for bad in ["4242", "-x", "a,b", "a/b", "a b", ".", "..", "j@x"] {
        assert_eq!(
            user_reason(&user("u-bad", bad, 5012), &cfg),
            Some(RefusalReason::InvalidName),
            "{bad:?}"
        );
    }
}

#[test]
fn a_taken_over_local_account_is_the_same_account_not_a_collision() {
    let cfg = cfg_with(&[]);
    let l = local();
    // Same name and uid as localuser (1500:1500); its directory gid (the uid) is a
    // local group's, which would refuse any other user.
    let same = user("u-same", "localuser", 1500);
    assert_eq!(user_reason(&same, &cfg), None);
    assert!(is_same_account(&map_user(&same, &cfg, &l).unwrap(), &l));
    // Name only, or uid only: still a collision, and the detail says why.
    for (v, says) in [
        (
            user("u-n", "localuser", 1501),
            "with uid 1500, the directory gives uid 1501",
        ),
        (
            user("u-u", "other", 1500),
            "as 'localuser', the directory names it 'other'",
        ),
    ] {
        let r = map_user(&v, &cfg, &l).unwrap_err();
        assert_eq!(r.reason, RefusalReason::CollidesWithLocal);
        assert!(r.detail.contains(says), "{}", r.detail);
    }
    // Reserved names stay reserved even for a local account.
    let l2 = LocalAccounts::parse("admin:x:1700:1700::/home/admin:/bin/sh\n", "");
    assert_eq!(
        map_user(&user("u-a", "admin", 1700), &cfg, &l2)
            .unwrap_err()
            .reason,
        RefusalReason::ReservedName
    );
}

#[test]
fn full_copy_keeps_a_taken_over_account_in_its_groups_without_passwd_or_shadow() {
    let cfg = cfg_with(&[]);
    let l = local();
    let users = [
        user_ext(
            user("u-same", "localuser", 1500),
            "shadowPassword",
            json!("$6$s$h"),
        ),
        user("u-ok", "okay", 5000),
    ];
    let groups = [json!({
        "id": "g-devs",
        "displayName": "devs",
        "members": [{"value": "u-same"}, {"value": "u-ok"}],
        GROUP_EXTENSION: {"posixGroupId": 6000, "posixGroupName": "devs"}
    })];
    let d = build_directory(&users, &groups, Some(&users), &cfg, &l);
    assert!(d.refused.is_empty(), "{:?}", d.refused);
    assert_eq!(d.same_account, vec!["localuser".to_string()]);
    let devs = d.groups.iter().find(|g| g.name == "devs").unwrap();
    assert_eq!(devs.members, vec!["localuser", "okay"]);
    // No private group and no shadow entry for it: the local ones answer.
    assert!(!d.groups.iter().any(|g| g.name == "localuser"));
    let shadow: Vec<&str> = d.shadow.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(shadow, vec!["okay"]);
}

#[test]
fn local_names_are_matched_ignoring_case() {
    // sudo matches user and group names ignoring case by default: a directory `LocalUser`
    // must not pick up rules written for the local `localuser`, nor `TEAM` for `%team`.
    let cfg = cfg_with(&[]);
    assert_eq!(
        user_reason(&user("u-1", "LocalUser", 5000), &cfg),
        Some(RefusalReason::CollidesWithLocal)
    );
    let g = json!({"id": "g-1", "displayName": "TEAM",
                   GROUP_EXTENSION: {"posixGroupId": 7000, "posixGroupName": "TEAM"}});
    assert_eq!(
        map_group(&g, &cfg, &local()).err().map(|r| r.reason),
        Some(RefusalReason::CollidesWithLocal)
    );
    // The same account keeps its exact name: only an exact name and uid is taken over.
    assert_eq!(user_reason(&user("u-2", "localuser", 1500), &cfg), None);
}

#[test]
fn directory_names_equal_ignoring_case_are_duplicates() {
    let users = [
        user("u-a", "alice", 5000),
        user("u-b", "Alice", 5001),
        user("u-c", "carol", 5002),
    ];
    let d = build_directory(&users, &[], None, &cfg_with(&[]), &local());
    let names: Vec<&str> = d.users.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, vec!["carol"]);
    assert_eq!(
        d.refused
            .iter()
            .filter(|r| r.reason == RefusalReason::DuplicateName)
            .count(),
        2
    );
}
