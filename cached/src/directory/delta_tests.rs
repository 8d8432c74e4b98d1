//! The incremental merge must give what a full copy of the new state gives.
use super::*;
use crate::config::Config;
use crate::directory::mapping::{build_directory, keep_shadow_fields, map_arrived_group, map_user};
use crate::directory::model::Directory;
use crate::scim::attributes::{GROUP_EXTENSION, USER_EXTENSION};
use serde_json::{json, Value};

const HASH: &str = "$6$saltsalt$Jq1ZbJ0bhnN1GzTbnyzlpI0vY2bL2jC0j9bU6bqnbdrT0I8w7Jd9n6b0o6tW2zK6bI7Xb0Vf3a9a6k2ZQyH0/.";

fn cfg() -> Config {
    Config::from_pairs(&[("server-address", "https://wb.example.com")]).unwrap()
}

fn local() -> LocalAccounts {
    LocalAccounts::parse(
        "root:x:0:0:root:/root:/bin/bash\n",
        "root:x:0:\nshadow:x:42:\n",
    )
}

fn user(id: &str, name: &str, uid: u64) -> Value {
    json!({
        "id": id,
        "userName": format!("{name}@example.com"),
        "displayName": format!("User {name}"),
        "active": true,
        USER_EXTENSION: {"posixUserId": uid, "posixUserName": name, "shadowPassword": HASH}
    })
}

fn group(id: &str, name: &str, gid: u64, members: &[&str]) -> Value {
    let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
    json!({
        "id": id,
        "displayName": name,
        "members": members,
        GROUP_EXTENSION: {"posixGroupId": gid, "posixGroupName": name}
    })
}

fn full(users: &[Value], groups: &[Value]) -> Directory {
    build_directory(users, groups, Some(users), &cfg(), &local())
}

fn held(dir: &Directory) -> Held {
    Held {
        users: dir
            .users
            .iter()
            .map(|u| (u.scim_id.clone(), u.uid))
            .collect(),
        groups: dir
            .groups
            .iter()
            .filter(|g| !g.scim_id.is_empty())
            .map(|g| (g.scim_id.clone(), g.gid))
            .collect(),
        refused: dir
            .refused
            .iter()
            .map(|r| (r.kind, r.scim_id.clone()))
            .collect(),
    }
}

fn delta(all_users: &[Value], all_groups: &[Value], users: &[Value], groups: &[Value]) -> Delta {
    let id = |v: &Value| v["id"].as_str().unwrap().to_string();
    Delta {
        users: users
            .iter()
            .map(|v| map_user(v, &cfg(), &local()))
            .collect(),
        groups: groups
            .iter()
            .map(|v| map_arrived_group(v, &cfg(), &local()))
            .collect(),
        shadow: Some(users.iter().cloned().map(keep_shadow_fields).collect()),
        user_ids: all_users.iter().map(id).collect(),
        group_ids: all_groups.iter().map(id).collect(),
    }
}

fn merged(before: &Directory, d: &Delta) -> Result<Directory, Doubt> {
    let (change, _) = merge_delta(before, &held(before), d, true, &local())?;
    let mut after = before.clone();
    after.apply(&change);
    Ok(after)
}

fn same(a: &Directory, b: &Directory) {
    let mut sa = a.shadow.clone();
    let mut sb = b.shadow.clone();
    sa.sort_by(|x, y| x.name.cmp(&y.name));
    sb.sort_by(|x, y| x.name.cmp(&y.name));
    assert_eq!(a.users, b.users);
    assert_eq!(a.groups, b.groups);
    assert_eq!(sa, sb);
}

#[test]
fn changes_additions_and_deletions_match_a_full_copy() {
    let alice = user("u1", "alice", 5000);
    let bob = user("u2", "bob", 5001);
    let carol = user("u3", "carol", 5002);
    let devs = group("g1", "devs", 2001, &["u1", "u2"]);
    let ops = group("g2", "ops", 2002, &["u3"]);
    let before = full(&[alice.clone(), bob.clone(), carol.clone()], &[devs, ops]);
    // bob renamed robert, carol deleted (ops with her), dave added to devs.
    let robert = user("u2", "robert", 5001);
    let dave = user("u4", "dave", 5003);
    let devs2 = group("g1", "devs", 2001, &["u1", "u2", "u4"]);
    let all_users = [alice, robert.clone(), dave.clone()];
    let all_groups = [devs2.clone()];
    let after = full(&all_users, &all_groups);
    let d = delta(&all_users, &all_groups, &[robert, dave], &[devs2]);
    let got = merged(&before, &d).unwrap();
    same(&got, &after);
    assert!(got.users.iter().any(|u| u.name == "robert"));
    assert!(!got
        .users
        .iter()
        .any(|u| u.name == "carol" || u.name == "bob"));
}

#[test]
fn nothing_changed_is_an_empty_change() {
    let users = [user("u1", "alice", 5000)];
    let groups = [group("g1", "devs", 2001, &["u1"])];
    let before = full(&users, &groups);
    let d = delta(&users, &groups, &[], &[]);
    let (change, m) = merge_delta(&before, &held(&before), &d, true, &local()).unwrap();
    assert!(change.is_empty(), "{change:?}");
    assert_eq!(m, Merged::default());
}

#[test]
fn a_listed_id_nobody_knows_means_a_full_copy() {
    let users = [user("u1", "alice", 5000)];
    let before = full(&users, &[]);
    // The server lists u9, but the changes did not bring it.
    let listed = [user("u1", "alice", 5000), user("u9", "zed", 5009)];
    let d = delta(&listed, &[], &[], &[]);
    let e = merged(&before, &d).unwrap_err();
    assert!(e.0.contains("u9"), "{e:?}");
}

#[test]
fn refused_by_the_last_copy_is_known() {
    // u2 has a reserved name: the full copy refuses it, the listing still has it.
    let users = [user("u1", "alice", 5000), user("u2", "root", 5001)];
    let before = full(&users, &[]);
    assert_eq!(before.refused.len(), 1);
    let d = delta(&users, &[], &[], &[]);
    assert!(merge_delta(&before, &held(&before), &d, true, &local())
        .unwrap()
        .0
        .is_empty());
}

#[test]
fn conflicts_and_refusals_mean_a_full_copy() {
    let users = [user("u1", "alice", 5000), user("u2", "bob", 5001)];
    let before = full(&users, &[]);
    // u2 takes alice's uid: a full copy refuses both; one merge cannot.
    let clash = user("u2", "bob", 5000);
    let d = delta(&users, &[], &[clash], &[]);
    assert!(merged(&before, &d).is_err());
    // A changed entry now refused.
    let bad = user("u2", "root", 5001);
    let d = delta(&users, &[], &[bad], &[]);
    assert!(merged(&before, &d).unwrap_err().0.contains("refused"));
}

#[test]
fn a_name_freed_by_a_deletion_can_be_taken() {
    let before = full(&[user("u1", "alice", 5000)], &[]);
    let newalice = user("u7", "alice", 5007);
    let d = delta(
        std::slice::from_ref(&newalice),
        &[],
        std::slice::from_ref(&newalice),
        &[],
    );
    let got = merged(&before, &d).unwrap();
    same(&got, &full(&[newalice], &[]));
}

#[test]
fn shadow_follows_the_admin_changes() {
    let alice = user("u1", "alice", 5000);
    let before = full(std::slice::from_ref(&alice), &[]);
    let mut changed = alice.clone();
    changed[USER_EXTENSION]["shadowPassword"] = json!("$6$other$abc");
    let after = full(std::slice::from_ref(&changed), &[]);
    let d = delta(
        std::slice::from_ref(&changed),
        &[],
        std::slice::from_ref(&changed),
        &[],
    );
    let got = merged(&before, &d).unwrap();
    same(&got, &after);
    assert_ne!(before.shadow, got.shadow);
}

#[test]
fn bad_shadow_is_refused_as_in_a_full_copy() {
    let alice = user("u1", "alice", 5000);
    let before = full(std::slice::from_ref(&alice), &[]);
    let mut changed = alice.clone();
    changed[USER_EXTENSION]["shadowPassword"] = json!("plain:text");
    let after = full(std::slice::from_ref(&changed), &[]);
    let d = delta(
        std::slice::from_ref(&changed),
        &[],
        std::slice::from_ref(&changed),
        &[],
    );
    let (change, m) = merge_delta(&before, &held(&before), &d, true, &local()).unwrap();
    let mut got = before.clone();
    got.apply(&change);
    same(&got, &after);
    assert_eq!(m.refused, after.refused);
    assert_eq!(m.refused.len(), 1);
}

#[test]
fn too_many_changes_mean_a_full_copy() {
    let before = full(&[user("u1", "alice", 5000)], &[]);
    let many: Vec<Value> = (0..=MAX_CHANGES as u64)
        .map(|i| user(&format!("n{i}"), &format!("n{i}"), 10_000 + i))
        .collect();
    let d = delta(&many, &[], &many, &[]);
    let e = merged(&before, &d).unwrap_err();
    assert!(e.0.contains("complete copy is cheaper"), "{e:?}");
}
