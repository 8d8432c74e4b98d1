use super::*;
use crate::scim::attributes::{GROUP_EXTENSION, USER_EXTENSION};
use serde_json::json;

const HASH: &str = "$6$saltsalt$Jq1ZbJ0bhnN1GzTbnyzlpI0vY2bL2jC0j9bU6bqnbdrT0I8w7Jd9n6b0o6tW2zK6bI7Xb0Vf3a9a6k2ZQyH0/.";

fn cfg() -> Config {
    Config::from_pairs(&[("server-address", "https://wb.example.com")]).unwrap()
}

fn cfg_with(pairs: &[(&str, &str)]) -> Config {
    let mut all = vec![("server-address", "https://wb.example.com")];
    all.extend_from_slice(pairs);
    Config::from_pairs(&all).unwrap()
}

fn local() -> LocalAccounts {
    LocalAccounts::parse(
        "root:x:0:0:root:/root:/bin/bash\nlocaluser:x:1500:1500::/home/localuser:/bin/sh\n",
        "root:x:0:\nshadow:x:42:\nlocalgrp:x:1600:\nlocaluser:x:1500:\n",
    )
}

fn user(id: &str, name: &str, uid: u64) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", USER_EXTENSION],
        "id": id,
        "userName": format!("{name}@example.com"),
        "displayName": format!("User {name}"),
        "active": true,
        USER_EXTENSION: {"admin": false, "posixUserId": uid, "posixUserName": name}
    })
}

fn group(id: &str, name: &str, gid: u64, members: &[&str]) -> Value {
    let members: Vec<Value> = members
        .iter()
        .map(|m| json!({"value": m, "display": "x"}))
        .collect();
    json!({
        "id": id,
        "displayName": name,
        "members": members,
        GROUP_EXTENSION: {"posixGroupId": gid, "posixGroupName": name}
    })
}

fn with_ext(mut v: Value, key: &str, value: Value) -> Value {
    v[USER_EXTENSION][key] = value;
    v
}

fn build(users: &[Value], groups: &[Value]) -> Directory {
    build_directory(users, groups, None, &cfg(), &local())
}

fn reasons(d: &Directory) -> Vec<(String, RefusalReason)> {
    d.refused
        .iter()
        .map(|r| (r.scim_id.clone(), r.reason))
        .collect()
}

fn only_refusal(users: &[Value]) -> Refusal {
    let d = build(users, &[]);
    assert!(d.users.is_empty(), "{:?}", d.users);
    assert_eq!(d.refused.len(), 1, "{:?}", d.refused);
    d.refused[0].clone()
}

#[test]
fn documented_user_maps_per_design() {
    let v = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", USER_EXTENSION],
        "id": "1",
        "meta": {"resourceType": "User", "created": "2024-04-23T18:57:43"},
        "userName": "user@example.com",
        "name": {"formatted": "User Name", "familyName": "Name", "givenName": "User"},
        "displayName": "User Name",
        "active": true,
        "emails": [{"value": "user@example.com", "type": "work", "primary": true}],
        USER_EXTENSION: {"admin": false, "posixUserId": 1001, "posixUserName": "user",
                         "homeDirectory": "/home/user", "shadowPassword": HASH}
    });
    let d = build(&[v], &[]);
    assert_eq!(
        d.users,
        vec![PosixUser {
            scim_id: "1".into(),
            name: "user".into(),
            uid: 1001,
            gid: 1001,
            gecos: "User Name".into(),
            home: "/home/user".into(),
            shell: "/bin/bash".into(),
            active: true,
        }]
    );
    assert_eq!(
        d.groups,
        vec![PosixGroup {
            scim_id: String::new(),
            name: "user".into(),
            gid: 1001,
            members: vec![]
        }]
    );
    assert!(d.refused.is_empty());
    assert!(d.shadow.is_empty(), "no admin data, no shadow");
}

#[test]
fn fallbacks_and_nulls() {
    let v = json!({
        "id": "7",
        "userName": "jane.doe@corp.example.com",
        "displayName": null,
        "name": {"formatted": "Jane Doe"},
        "active": null,
        "unknownAttribute": [1, 2, {"x": null}],
        USER_EXTENSION: {"posixUserId": 2000, "posixUserName": null,
                         "posixGroupId": 3000, "homeDirectory": null, "shadowPassword": null}
    });
    let d = build_directory(
        &[v],
        &[],
        None,
        &cfg_with(&[("home-root", "/users/"), ("default-shell", "/bin/zsh")]),
        &local(),
    );
    let u = &d.users[0];
    assert_eq!(u.name, "jane.doe");
    assert_eq!((u.uid, u.gid), (2000, 3000));
    assert_eq!(u.gecos, "Jane Doe");
    assert_eq!(u.home, "/users/jane.doe");
    assert_eq!(u.shell, "/bin/zsh");
    assert!(u.active);

    let bare = json!({"id": "8", "userName": "bare", USER_EXTENSION: {"posixUserId": 2001}});
    let d = build_directory(
        &[bare],
        &[],
        None,
        &cfg_with(&[("home-root", "/")]),
        &local(),
    );
    assert_eq!(d.users[0].gecos, "");
    assert_eq!(d.users[0].home, "/bare");
    assert_eq!(d.users[0].name, "bare");
}

#[test]
fn user_name_keeps_everything_before_the_last_at() {
    let v =
        json!({"id": "1", "userName": "a@b@example.com", USER_EXTENSION: {"posixUserId": 2000}});
    assert_eq!(only_refusal(&[v]).reason, RefusalReason::InvalidName);
}

#[test]
fn hostile_users_are_refused_one_by_one() {
    let hostile = vec![
        (user("uid0", "zero", 0), RefusalReason::IdBelowMinimum),
        (user("low", "low", 999), RefusalReason::IdBelowMinimum),
        (
            user("max", "maxid", 4_294_967_295),
            RefusalReason::InvalidId,
        ),
        (user("big", "big", u64::MAX), RefusalReason::InvalidId),
        (
            with_ext(user("neg", "neg", 1), "posixUserId", json!(-5)),
            RefusalReason::InvalidId,
        ),
        (
            with_ext(user("flt", "flt", 1), "posixUserId", json!(1000.5)),
            RefusalReason::InvalidId,
        ),
        (
            with_ext(user("str", "str", 1), "posixUserId", json!("2000")),
            RefusalReason::InvalidId,
        ),
        (
            with_ext(user("nouid", "nouid", 1), "posixUserId", Value::Null),
            RefusalReason::MissingId,
        ),
        (
            with_ext(user("gid0", "gidzero", 2000), "posixGroupId", json!(0)),
            RefusalReason::IdBelowMinimum,
        ),
        (user("colon", "a:b", 2001), RefusalReason::ControlCharacter),
        (user("nl", "a\nb", 2002), RefusalReason::ControlCharacter),
        (user("nul", "a\0b", 2003), RefusalReason::ControlCharacter),
        (
            user("space", "Alice Able", 2004),
            RefusalReason::InvalidName,
        ),
        (
            user("long", &"a".repeat(65), 2005),
            RefusalReason::InvalidName,
        ),
        (user("digit", "1234", 2006), RefusalReason::InvalidName),
        (
            with_ext(user("num", "num", 2007), "posixUserName", json!(5)),
            RefusalReason::InvalidName,
        ),
        (
            with_ext(user("rel", "rel", 2008), "homeDirectory", json!("home/rel")),
            RefusalReason::RelativeHome,
        ),
        (
            with_ext(
                user("hcolon", "hcolon", 2009),
                "homeDirectory",
                json!("/home/a:b"),
            ),
            RefusalReason::ControlCharacter,
        ),
        (
            with_ext(user("harr", "harr", 2010), "homeDirectory", json!(["/x"])),
            RefusalReason::Malformed,
        ),
        (
            with_ext(
                user("hlong", "hlong", 2011),
                "homeDirectory",
                json!(format!("/{}", "h".repeat(5000))),
            ),
            RefusalReason::FieldTooLong,
        ),
        (
            json!({"id": "ext", "userName": "ext", USER_EXTENSION: [1, 2]}),
            RefusalReason::Malformed,
        ),
        (
            json!({"id": "noname", USER_EXTENSION: {"posixUserId": 2012}}),
            RefusalReason::InvalidName,
        ),
        (
            json!({"id": "gecos", "userName": "gecos", "displayName": "Evil\nroot::0:0",
                USER_EXTENSION: {"posixUserId": 2013}}),
            RefusalReason::ControlCharacter,
        ),
        (
            json!({"id": "gecos2", "userName": "gecos2", "displayName": "a:b",
                USER_EXTENSION: {"posixUserId": 2014}}),
            RefusalReason::ControlCharacter,
        ),
        (
            json!({"id": 5, "userName": "numid", USER_EXTENSION: {"posixUserId": 2015}}),
            RefusalReason::Malformed,
        ),
        (
            json!({"userName": "noid", USER_EXTENSION: {"posixUserId": 2016}}),
            RefusalReason::Malformed,
        ),
        (json!([1, 2, 3]), RefusalReason::Malformed),
        (json!("user"), RefusalReason::Malformed),
        (Value::Null, RefusalReason::Malformed),
        (
            json!({"id": "a\nb", "userName": "ctlid", USER_EXTENSION: {"posixUserId": 2017}}),
            RefusalReason::ControlCharacter,
        ),
        (
            json!({"id": "x".repeat(300), "userName": "longid", USER_EXTENSION: {"posixUserId": 2018}}),
            RefusalReason::FieldTooLong,
        ),
        (
            user("local", "localuser", 2019),
            RefusalReason::CollidesWithLocal,
        ),
        (
            user("localuid", "other", 1500),
            RefusalReason::CollidesWithLocal,
        ),
        (user("root", "root", 2020), RefusalReason::CollidesWithLocal),
    ];
    let good = user("good", "good", 5000);
    let mut all: Vec<Value> = hostile.iter().map(|(v, _)| v.clone()).collect();
    all.push(good);
    let d = build(&all, &[]);
    assert_eq!(d.users.len(), 1);
    assert_eq!(d.users[0].name, "good");
    assert_eq!(d.refused.len(), hostile.len());
    for (r, (v, want)) in d.refused.iter().zip(&hostile) {
        assert_eq!(r.reason, *want, "{v} -> {r:?}");
        assert_eq!(r.kind, EntryKind::User);
        assert!(r.detail.len() < 300, "detail bounded: {}", r.detail);
        assert!(!r.scim_id.contains('\n'));
    }
    assert_eq!(d.refused[hostile.len() - 5].scim_id, "a\\nb");
    assert_eq!(d.refused[26].scim_id, NO_ID);
}

#[test]
fn huge_display_name_is_truncated_not_refused() {
    let mut v = user("1", "big", 2000);
    v["displayName"] = json!("é".repeat(5 * 1024 * 1024));
    let d = build(&[v], &[]);
    assert!(d.refused.is_empty());
    let g = &d.users[0].gecos;
    assert!(g.len() <= MAX_GECOS && g.len() >= MAX_GECOS - 1);
    assert!(g.chars().all(|c| c == 'é'));
}

#[test]
fn inactive_and_odd_active_values() {
    let mut a = user("a", "a", 2000);
    a["active"] = json!(false);
    let mut b = user("b", "b", 2001);
    b["active"] = json!("true");
    let mut c = user("c", "c", 2002);
    c.as_object_mut().unwrap().remove("active");
    let d = build(&[a, b, c], &[]);
    let act: Vec<bool> = d.users.iter().map(|u| u.active).collect();
    assert_eq!(act, vec![false, false, true]);
}

#[test]
fn duplicates_refuse_every_holder_in_any_order() {
    let users = vec![
        user("1", "alice", 2000),
        user("2", "bob", 2000), // same uid as alice
        user("3", "carol", 3000),
        user("4", "carol", 3001), // same name as 3
        user("5", "dave", 4000),
        user("5", "erin", 4001), // same SCIM id as 5
        user("6", "frank", 5000),
    ];
    let d = build(&users, &[]);
    assert_eq!(
        d.users.iter().map(|u| u.name.as_str()).collect::<Vec<_>>(),
        vec!["frank"]
    );
    let mut r = reasons(&d);
    r.sort();
    assert_eq!(
        r,
        vec![
            ("1".into(), RefusalReason::DuplicateId),
            ("2".into(), RefusalReason::DuplicateId),
            ("3".into(), RefusalReason::DuplicateName),
            ("4".into(), RefusalReason::DuplicateName),
            ("5".into(), RefusalReason::DuplicateId),
            ("5".into(), RefusalReason::DuplicateId),
        ]
    );
    let mut reversed = users.clone();
    reversed.reverse();
    let d2 = build(&reversed, &[]);
    assert_eq!(d.users, d2.users);
    assert_eq!(d.groups, d2.groups);
}

#[test]
fn invalid_entry_does_not_make_a_valid_one_a_duplicate() {
    let d = build(
        &[user("1", "alice", 2000), user("2", "Bad:Name", 2000)],
        &[],
    );
    assert_eq!(d.users.len(), 1);
    assert_eq!(
        reasons(&d),
        vec![("2".into(), RefusalReason::ControlCharacter)]
    );
}

#[test]
fn groups_map_resolve_members_and_refuse_hostile_ones() {
    let mut refused_user = user("u-bad", "b,ad", 2003);
    refused_user["x"] = json!(1);
    let users = vec![
        user("u1", "alice", 2000),
        user("u2", "bob", 2001),
        user("u3", "carol", 2002),
        refused_user,
    ];
    let coerced = json!({"id": "g2", "displayName": "Data Science Team!",
                         "members": [{"value": "u2"}],
                         GROUP_EXTENSION: {"posixGroupId": 6000}});
    let groups = vec![
        group(
            "g1",
            "eng",
            5000,
            &["u1", "u2", "u1", "nope", "u-bad", "u3"],
        ),
        coerced,
        json!({"id": "g3", "displayName": "no gid", "members": []}),
        json!({"id": "g4", "displayName": "x", GROUP_EXTENSION: {"posixGroupId": 7000}, "members": {"value": "u1"}}),
        json!({"id": "g5", GROUP_EXTENSION: {"posixGroupId": 7001}}),
        group("g6", "up/per", 7002, &[]),
        group("g7", "low", 999, &[]),
        group("g8", "localgrp", 7003, &[]),
        group("g9", "other", 1600, &[]),
        group("g10", "shadow", 7004, &[]),
        json!({"id": "g11", "displayName": "odd members", GROUP_EXTENSION: {"posixGroupId": 7005},
               "members": [1, null, "u1", {"value": 5}, {"value": "u3"}, {"display": "u2"}, [{"value": "u2"}]]}),
        json!({"id": "g12", GROUP_EXTENSION: {"posixGroupId": 7006, "posixGroupName": "a\nb"}}),
        json!({"id": "g13", GROUP_EXTENSION: {"posixGroupId": 4_294_967_295u64, "posixGroupName": "maxg"}}),
    ];
    let d = build(&users, &groups);
    let scim: Vec<_> = d
        .groups
        .iter()
        .filter(|g| !g.scim_id.is_empty())
        .map(|g| (g.name.as_str(), g.gid, g.members.clone()))
        .collect();
    assert_eq!(
        scim,
        vec![
            (
                "eng",
                5000,
                vec!["alice".to_string(), "bob".into(), "carol".into()]
            ),
            ("data_science_team_", 6000, vec!["bob".into()]),
            ("odd_members", 7005, vec!["carol".into()]),
        ]
    );
    let mut r: Vec<_> = reasons(&d)
        .into_iter()
        .filter(|(id, _)| id.starts_with('g'))
        .collect();
    r.sort();
    assert_eq!(
        r,
        vec![
            ("g10".into(), RefusalReason::CollidesWithLocal),
            ("g12".into(), RefusalReason::ControlCharacter),
            ("g13".into(), RefusalReason::InvalidId),
            ("g3".into(), RefusalReason::MissingId),
            ("g4".into(), RefusalReason::Malformed),
            ("g5".into(), RefusalReason::InvalidName),
            ("g6".into(), RefusalReason::InvalidName),
            ("g7".into(), RefusalReason::IdBelowMinimum),
            ("g8".into(), RefusalReason::CollidesWithLocal),
            ("g9".into(), RefusalReason::CollidesWithLocal),
        ]
    );
    assert!(d
        .refused
        .iter()
        .all(|r| r.scim_id == "u-bad" || r.kind == EntryKind::Group));
}

#[test]
fn duplicate_groups_are_all_refused() {
    let groups = vec![
        group("g1", "eng", 5000, &[]),
        group("g2", "ops", 5000, &[]),
        group("g3", "dev", 5001, &[]),
        group("g4", "dev", 5002, &[]),
        group("g5", "ok", 5003, &[]),
    ];
    let d = build(&[], &groups);
    assert_eq!(
        d.groups.iter().map(|g| g.name.as_str()).collect::<Vec<_>>(),
        vec!["ok"]
    );
    let mut r = reasons(&d);
    r.sort();
    assert_eq!(
        r,
        vec![
            ("g1".into(), RefusalReason::DuplicateId),
            ("g2".into(), RefusalReason::DuplicateId),
            ("g3".into(), RefusalReason::DuplicateName),
            ("g4".into(), RefusalReason::DuplicateName),
        ]
    );
}

#[test]
fn user_private_groups_rules() {
    let shared_a = with_ext(user("sa", "sharea", 2010), "posixGroupId", json!(9000));
    let shared_b = with_ext(user("sb", "shareb", 2011), "posixGroupId", json!(9000));
    let in_scim = with_ext(user("sc", "member", 2012), "posixGroupId", json!(5000));
    let local_gid = with_ext(user("sd", "localgid", 2013), "posixGroupId", json!(1600));
    let named = user("se", "eng", 2014); // a SCIM group is called "eng" (gid 5000)
    let refused_group_gid = user("sf", "fred", 7000);
    let users = vec![
        user("s1", "alice", 2000),
        shared_a,
        shared_b,
        in_scim,
        local_gid,
        named,
        refused_group_gid,
    ];
    let groups = vec![
        group("g1", "eng", 5000, &["sc"]),
        json!({"id": "gbad", GROUP_EXTENSION: {"posixGroupId": 7000, "posixGroupName": "4242"}}),
    ];
    let d = build(&users, &groups);
    let g: Vec<_> = d
        .groups
        .iter()
        .map(|g| (g.scim_id.as_str(), g.name.as_str(), g.gid))
        .collect();
    assert_eq!(g, vec![("", "alice", 2000), ("g1", "eng", 5000)]);

    let d = build_directory(
        &users,
        &groups,
        None,
        &cfg_with(&[("user-private-groups", "0")]),
        &local(),
    );
    assert_eq!(d.groups.len(), 1);
}

#[test]
fn shadow_entries() {
    let mut inactive = user("3", "carol", 2002);
    inactive["active"] = json!(false);
    let mut inactive_nohash = user("4", "dave", 2003);
    inactive_nohash["active"] = json!(false);
    let users = vec![
        user("1", "alice", 2000),
        user("2", "bob", 2001),
        inactive,
        inactive_nohash,
        user("5", "erin", 2004),
        user("6", "frank", 2005),
        user("7", "gina", 2006),
        user("8", "hank", 2007),
        user("9", "ivy", 2008),
        user("10", "jo", 2009),
    ];
    let bad = "plaintext-password";
    let admin = vec![
        with_ext(user("1", "alice", 2000), "shadowPassword", json!(HASH)),
        with_ext(user("2", "bob", 2001), "shadowPassword", json!(bad)),
        with_ext(user("3", "carol", 2002), "shadowPassword", json!(HASH)),
        user("4", "dave", 2003),
        with_ext(user("5", "erin", 2004), "shadowPassword", json!("")),
        // 6 absent from the admin copy
        with_ext(user("7", "gina", 2006), "shadowPassword", json!(42)),
        with_ext(
            user("8", "hank", 2007),
            "shadowPassword",
            json!(format!("!{HASH}")),
        ),
        with_ext(
            user("9", "ivy", 2008),
            "shadowPassword",
            json!("abJnggxhB/yWI"),
        ),
        with_ext(user("10", "jo", 2009), "shadowPassword", json!(HASH)),
        with_ext(user("10", "jo", 2009), "shadowPassword", json!(HASH)),
        json!("garbage"),
        json!({"id": "999", USER_EXTENSION: {"shadowPassword": HASH}}),
    ];
    let d = build_directory(&users, &[], Some(&admin), &cfg(), &local());
    // The sync keeps only keep_shadow_fields of each admin resource: same result,
    // refusals included (an extension that is not an object among the shapes below).
    let mut shaped_admin: Vec<AdminFields> =
        admin.iter().cloned().map(keep_shadow_fields).collect();
    shaped_admin.push(keep_shadow_fields(
        json!({"id": "11", USER_EXTENSION: "not an object"}),
    ));
    let mut with_11 = users.clone();
    with_11.push(user("11", "kim", 2010));
    let plain = build_directory(
        &with_11,
        &[],
        Some(
            &[
                admin.clone(),
                vec![json!({"id": "11", USER_EXTENSION: "not an object"})],
            ]
            .concat(),
        ),
        &cfg(),
        &local(),
    );
    let mapped = with_11
        .iter()
        .map(|v| map_user(v, &cfg(), &local()))
        .collect();
    let shaped = build_directory_mapped(mapped, vec![], Some(&shaped_admin), &cfg(), &local());
    assert_eq!(plain.shadow, shaped.shadow);
    assert_eq!(reasons(&plain), reasons(&shaped));
    assert!(reasons(&shaped).contains(&("11".into(), RefusalReason::BadShadow)));
    let kept = keep_shadow_fields(admin[0].clone());
    assert_eq!(
        kept,
        keep_shadow_fields(json!({"id": "1", "active": true,
                                  USER_EXTENSION: {"shadowPassword": HASH}})),
        "nothing but id, active and the hash"
    );
    let s: Vec<_> = d
        .shadow
        .iter()
        .map(|e| (e.name.as_str(), e.pwdp.clone()))
        .collect();
    assert_eq!(
        s,
        vec![
            ("alice", HASH.to_string()),
            ("bob", "*".to_string()),
            ("carol", format!("!{HASH}")),
            ("dave", "!*".to_string()),
            ("erin", "*".to_string()),
            ("frank", "*".to_string()),
            ("gina", "*".to_string()),
            ("hank", format!("!{HASH}")),
            ("ivy", "abJnggxhB/yWI".to_string()),
            ("jo", "*".to_string()),
        ]
    );
    assert_eq!(d.users.len(), 10, "a bad hash never costs the passwd entry");
    let mut r = reasons(&d);
    r.sort();
    assert_eq!(
        r,
        vec![
            ("10".into(), RefusalReason::BadShadow),
            ("2".into(), RefusalReason::BadShadow),
            ("7".into(), RefusalReason::BadShadow),
        ]
    );
    for r in &d.refused {
        assert!(
            !r.detail.contains(bad) && !r.detail.contains("saltsalt"),
            "{}",
            r.detail
        );
    }

    // An inactive flag in the admin copy locks too.
    let mut admin_inactive = with_ext(user("1", "alice", 2000), "shadowPassword", json!(HASH));
    admin_inactive["active"] = json!(false);
    let d = build_directory(&users[..1], &[], Some(&[admin_inactive]), &cfg(), &local());
    assert_eq!(d.shadow[0].pwdp, format!("!{HASH}"));
}

#[test]
fn output_is_sorted_by_id() {
    let users = vec![
        user("a", "zed", 3000),
        user("b", "amy", 2000),
        user("c", "kim", 2500),
    ];
    let groups = vec![
        group("g1", "late", 9000, &[]),
        group("g2", "early", 1000, &[]),
    ];
    let d = build(&users, &groups);
    let uids: Vec<u32> = d.users.iter().map(|u| u.uid).collect();
    assert_eq!(uids, vec![2000, 2500, 3000]);
    let gids: Vec<u32> = d.groups.iter().map(|g| g.gid).collect();
    assert_eq!(gids, vec![1000, 2000, 2500, 3000, 9000]);
}

#[test]
fn group_of_twenty_thousand_members() {
    let users: Vec<Value> = (0..20_000u64)
        .map(|i| user(&format!("u{i}"), &format!("user{i}"), 10_000 + i))
        .collect();
    let ids: Vec<String> = (0..20_000).map(|i| format!("u{i}")).collect();
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let d = build(&users, &[group("big", "everyone", 5000, &id_refs)]);
    let g = d.groups.iter().find(|g| g.name == "everyone").unwrap();
    assert_eq!(g.members.len(), 20_000);
    assert_eq!(g.members[0], "user0");
    assert_eq!(g.members[19_999], "user19999");
}

#[test]
fn group_with_more_member_values_than_a_frame_can_hold_is_refused() {
    use crate::directory::validate::MAX_MEMBERS;
    let ids: Vec<String> = (0..=MAX_MEMBERS).map(|i| format!("u{i}")).collect();
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let d = build(
        &[user("u1", "amy", 2000)],
        &[
            group("huge", "everyone", 5000, &id_refs),
            group("ok", "fine", 5001, &id_refs[..MAX_MEMBERS]),
        ],
    );
    assert!(d.groups.iter().all(|g| g.name != "everyone"));
    let r = d.refused.iter().find(|r| r.scim_id == "huge").unwrap();
    assert_eq!(r.reason, RefusalReason::FieldTooLong);
    assert!(r.detail.contains("more than 100000"), "{}", r.detail);
    let fine = d.groups.iter().find(|g| g.name == "fine").unwrap();
    assert_eq!(fine.members, ["amy"]);
}

#[test]
fn groups_mapped_as_they_arrive_build_the_same_directory() {
    let users = vec![user("a", "amy", 2000), user("b", "bob", 2001)];
    let groups = vec![
        group("g1", "devs", 3000, &["a", "b", "nobody"]),
        group("g2", "bad name!", 2001, &["a"]),
        json!({"id": "g3", "displayName": "nogid"}),
    ];
    let cfg = cfg();
    let local = local();
    let whole = build_directory(&users, &groups, None, &cfg, &local);
    let mapped = users.iter().map(|v| map_user(v, &cfg, &local)).collect();
    let arrived = groups
        .iter()
        .map(|v| map_arrived_group(v, &cfg, &local))
        .collect();
    let per_page = build_directory_mapped(mapped, arrived, None, &cfg, &local);
    assert_eq!(per_page, whole);
    // g2 claims bob's gid: no private group may stand in for it.
    assert!(per_page.groups.iter().all(|g| g.name != "bob"));
}

#[test]
fn no_json_shape_panics() {
    let shapes = vec![
        json!(null),
        json!(true),
        json!(1.5e308),
        json!(-1),
        json!(""),
        json!([]),
        json!([[[[[]]]]]),
        json!({}),
        json!({"id": null}),
        json!({"id": []}),
        json!({"id": "x", USER_EXTENSION: null}),
        json!({"id": "x", USER_EXTENSION: "str"}),
        json!({"id": "x", GROUP_EXTENSION: {"posixGroupId": {}}}),
        json!({"id": "x", "name": "not an object", "userName": 5}),
        json!({"id": "x", "members": "u1", GROUP_EXTENSION: {"posixGroupId": 5000}}),
        json!({"id": "x", "members": [null, [], {}], GROUP_EXTENSION: {"posixGroupId": 5000}, "displayName": 3}),
        json!({"id": "x", "userName": "ok", USER_EXTENSION: {"posixUserId": 12345678901234567890u64}}),
    ];
    let d = build_directory(&shapes, &shapes, Some(&shapes), &cfg(), &local());
    assert!(d.users.is_empty() && d.groups.is_empty());
    assert_eq!(d.refused.len(), shapes.len() * 2);
}

/// `cargo test -p cached --release --lib directory::mapping::tests::scale -- --ignored --nocapture`
#[test]
#[ignore]
fn scale_100k_users_10k_groups() {
    let users: Vec<Value> = (0..100_000u64)
        .map(|i| {
            let mut u = user(&format!("u{i}"), &format!("user{i}"), 10_000 + i);
            u[USER_EXTENSION]["homeDirectory"] = json!(format!("/home/user{i}"));
            u
        })
        .collect();
    let admin: Vec<Value> = users
        .iter()
        .map(|u| with_ext(u.clone(), "shadowPassword", json!(HASH)))
        .collect();
    let groups: Vec<Value> = (0..10_000u64)
        .map(|g| {
            // Group 0 has 20,000 members; the rest 20 each.
            let n = if g == 0 { 20_000 } else { 20 };
            let ids: Vec<String> = (0..n)
                .map(|k| format!("u{}", (g * 7 + k) % 100_000))
                .collect();
            let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
            group(&format!("g{g}"), &format!("group{g}"), 200_000 + g, &refs)
        })
        .collect();
    let start = std::time::Instant::now();
    let d = build_directory(&users, &groups, Some(&admin), &cfg(), &local());
    let took = start.elapsed();
    eprintln!(
        "build_directory: {} users, {} groups, {} shadow, {} refused in {took:?}",
        d.users.len(),
        d.groups.len(),
        d.shadow.len(),
        d.refused.len()
    );
    assert_eq!(d.users.len(), 100_000);
    assert_eq!(d.groups.len(), 110_000);
    assert!(d.refused.is_empty());
}

#[test]
fn resource_refused_while_parsing_is_refused_by_its_scim_id() {
    use crate::scim::nesting::REFUSED_MARKER;
    let stub = json!({"id": "u-deep", REFUSED_MARKER: "JSON nested more than 100 levels deep"});
    let d = build(
        &[user("u-a", "alice", 1001), stub],
        &[group("g", "devs", 2001, &["u-a", "u-deep"])],
    );
    assert_eq!(d.users.len(), 1);
    assert_eq!(
        reasons(&d),
        vec![("u-deep".to_string(), RefusalReason::Malformed)]
    );
    assert!(d.refused[0].detail.contains("nested"), "{:?}", d.refused);
    let devs = d.groups.iter().find(|g| g.name == "devs").unwrap();
    assert_eq!(devs.members, vec!["alice".to_string()]);
}
