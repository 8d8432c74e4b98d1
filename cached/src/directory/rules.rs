//! The identity rules (design.md §6, §7): what a valid entry may not be, given the
//! configuration and the local accounts. Pure data, no I/O. Every path that turns SCIM
//! data into served entries goes through these functions — the full copy
//! ([`super::mapping`]) and the on-demand merges ([`super::merge`]) — so no path can
//! serve what another would refuse.
//!
//! Order matters only for which reason is reported: collisions with local accounts come
//! first (as before these rules existed), then reserved names, the primary gid and the
//! home's root.

use std::collections::{HashMap, HashSet};

use super::local_accounts::LocalAccounts;
use super::model::{Directory, PosixGroup, PosixUser, RefusalReason};
use super::validate::{check_id, Problem, MAX_EXCERPT};
use crate::config::Config;
use crate::scim::attributes as attr;
use crate::text::one_line::one_line;
use serde_json::Value;

/// Whether `user` is a local account taken over by Workbench (design.md §6, §7): a
/// local user has both its name and its uid. It is the same account, not a collision:
/// the local line answers `passwd` and `shadow`, and the account keeps its directory
/// group memberships.
pub fn is_same_account(user: &PosixUser, local: &LocalAccounts) -> bool {
    local.uid_of_user(&user.name) == Some(user.uid)
}

/// Sets `dir.same_account` from its users and the local accounts, and drops what a
/// taken-over account never has from the directory: its shadow entry (the local one
/// answers) and a private group named after it. Every path that changes the served copy
/// (full copy, on-demand merge, the cached copy held to today's rules) ends with this.
pub fn mark_same_accounts(dir: &mut Directory, local: &LocalAccounts) {
    let mut same: Vec<String> = dir
        .users
        .iter()
        .filter(|u| is_same_account(u, local))
        .map(|u| u.name.clone())
        .collect();
    same.sort();
    if !same.is_empty() {
        let is_same = |name: &str| same.binary_search_by(|n| n.as_str().cmp(name)).is_ok();
        dir.shadow.retain(|s| !is_same(&s.name));
        dir.groups
            .retain(|g| !(g.scim_id.is_empty() && is_same(&g.name)));
    }
    dir.same_account = same;
}

/// Checks a user whose fields are each valid (see `validate`) against the local accounts
/// and the configured policy. A local account taken over with the same name and uid
/// ([`is_same_account`]) passes: only its name's reservation is checked, since its
/// passwd line (primary gid, home) comes from the local files.
pub fn check_user(user: &PosixUser, cfg: &Config, local: &LocalAccounts) -> Result<(), Problem> {
    let (name, uid, gid) = (&user.name, user.uid, user.gid);
    match local.uid_of_user(name) {
        Some(local_uid) if local_uid == uid => return check_reserved("user", name, cfg),
        Some(local_uid) => {
            return Err(Problem::new(
                RefusalReason::CollidesWithLocal,
                format!(
                    "user name '{name}' exists in /etc/passwd with uid {local_uid}, the \
                     directory gives uid {uid}: not the same account (a taken-over account \
                     keeps its uid)"
                ),
            ))
        }
        None => {}
    }
    if let Some(holder) = local.user_with_uid(uid) {
        return Err(Problem::new(
            RefusalReason::CollidesWithLocal,
            format!(
                "uid {uid} exists in /etc/passwd as '{holder}', the directory names it \
                 '{name}': not the same account"
            ),
        ));
    }
    check_reserved("user", name, cfg)?;
    // After the reserved names (which already ignore case, so `Root` reads as reserved).
    check_case_variant("user", name, local.user_named_like(name), "/etc/passwd")?;
    if local.gids.contains(&gid) && !cfg.local_primary_gids.contains(&gid) {
        // It would give the user that group's file access without anyone listing it
        // as a member.
        return Err(Problem::new(
            RefusalReason::PrimaryGidIsLocal,
            format!("primary gid {gid} is a group in /etc/group and not in local-primary-gids"),
        ));
    }
    check_home_root(&user.home, &cfg.home_must_be_under)
}

/// A user's `posixGroupId`, at least `min-gid`, except that a gid listed in
/// `local-primary-gids` that a local group has is accepted below it (`users`, 100, is
/// the usual one-group-for-everyone): the administrator named it, it is not the
/// directory's to claim.
pub fn primary_gid(value: &Value, cfg: &Config, local: &LocalAccounts) -> Result<u32, Problem> {
    match check_id(attr::POSIX_GROUP_ID, value, cfg.min_gid) {
        Err(p) if p.reason == RefusalReason::IdBelowMinimum => {
            match check_id(attr::POSIX_GROUP_ID, value, 1) {
                Ok(gid) if cfg.local_primary_gids.contains(&gid) && local.gids.contains(&gid) => {
                    Ok(gid)
                }
                _ => Err(p),
            }
        }
        other => other,
    }
}

/// Checks a group's name and gid against the local accounts and `reserved-names`.
pub fn check_group(
    name: &str,
    gid: u32,
    cfg: &Config,
    local: &LocalAccounts,
) -> Result<(), Problem> {
    if local.group_names.contains(name) {
        return Err(Problem::new(
            RefusalReason::CollidesWithLocal,
            format!("group name '{name}' exists in /etc/group"),
        ));
    }
    if local.gids.contains(&gid) {
        return Err(Problem::new(
            RefusalReason::CollidesWithLocal,
            format!("gid {gid} exists in /etc/group"),
        ));
    }
    check_reserved("group", name, cfg)?;
    check_case_variant("group", name, local.group_named_like(name), "/etc/group")
}

/// Whether `name` is in `reserved`, ignoring ASCII case: now that names keep their case,
/// `Root` or `SUDO` must not slip past a list of lower-case names (some tools and PAM
/// modules fold case).
pub fn is_reserved<'a>(name: &str, reserved: impl IntoIterator<Item = &'a String>) -> bool {
    reserved.into_iter().any(|r| r.eq_ignore_ascii_case(name))
}

/// A name that differs from a local one (`like`, from `file`) only in case is that
/// name to sudo and other tools that match names ignoring case: refused.
fn check_case_variant(
    kind: &str,
    name: &str,
    like: Option<&str>,
    file: &str,
) -> Result<(), Problem> {
    match like {
        Some(like) => Err(Problem::new(
            RefusalReason::CollidesWithLocal,
            format!(
                "{kind} name '{name}' differs only in case from '{like}' in {file} (sudo and \
                 other tools match names ignoring case)"
            ),
        )),
        None => Ok(()),
    }
}

fn check_reserved(kind: &str, name: &str, cfg: &Config) -> Result<(), Problem> {
    if is_reserved(name, &cfg.reserved_names) {
        return Err(Problem::new(
            RefusalReason::ReservedName,
            format!("{kind} name '{name}' is in reserved-names"),
        ));
    }
    Ok(())
}

/// A (normalised) home must be strictly below one of `roots`, compared component by
/// component, when any are configured.
fn check_home_root(home: &str, roots: &[String]) -> Result<(), Problem> {
    if roots.is_empty() || roots.iter().any(|r| is_strictly_below(home, r)) {
        return Ok(());
    }
    Err(Problem::new(
        RefusalReason::HomeOutsideRoots,
        format!(
            "homeDirectory '{}' is not below home-must-be-under ({})",
            one_line(home, MAX_EXCERPT),
            roots.join(",")
        ),
    ))
}

/// Whether normalised `path` lies strictly below normalised `root`: `/home/a` is below
/// `/home`, while `/home` and `/homeX/a` are not.
pub fn is_strictly_below(path: &str, root: &str) -> bool {
    let rest = if root == "/" {
        path.strip_prefix('/')
    } else {
        path.strip_prefix(root).and_then(|r| r.strip_prefix('/'))
    };
    rest.is_some_and(|r| !r.is_empty())
}

/// Why a user gets no user private group. The user is still served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoPrivateGroup {
    /// A directory group has the gid: the user belongs to it (not an obstacle as such).
    GidIsDirectoryGroup,
    /// A local group has the gid.
    GidIsLocal,
    /// Several directory users have the gid; a group named after one would be wrong.
    GidShared,
    /// A local or directory group already has the user's name: a private group with it
    /// would stand in for that group (`sudo`, `adm` …).
    NameTaken,
}

impl NoPrivateGroup {
    /// For the debug log.
    pub fn as_str(self) -> &'static str {
        match self {
            NoPrivateGroup::GidIsDirectoryGroup => "a directory group has that gid",
            NoPrivateGroup::GidIsLocal => "a local group has that gid",
            NoPrivateGroup::GidShared => "several users share that gid",
            NoPrivateGroup::NameTaken => "another group has that name",
        }
    }
}

/// What a user private group must not collide with: the directory's group names and
/// gids, and how many directory users have each gid. The full copy tallies them as it
/// builds ([`GroupClaims`]); a merge asks the served copy (`merge::ViewSpace`).
pub trait GroupSpace {
    /// A group (even one refused) holds `gid`.
    fn gid_taken(&self, gid: u32) -> bool;
    /// A group holds `name`, ignoring ASCII case (a private group `alice` beside a
    /// directory group `Alice` would match the same `%Alice` sudo rule).
    fn name_taken(&self, name: &str) -> bool;
    /// How many directory users have primary gid `gid`.
    fn users_with_gid(&self, gid: u32) -> usize;
}

/// A [`GroupSpace`] tallied while a full copy is built.
#[derive(Debug, Clone, Default)]
pub struct GroupClaims {
    gids: HashSet<u32>,
    names: HashSet<String>,
    users_per_gid: HashMap<u32, usize>,
}

impl GroupClaims {
    /// The space of `groups` (SCIM and private) and `users`.
    pub fn of<'a>(
        groups: impl IntoIterator<Item = &'a PosixGroup>,
        users: impl IntoIterator<Item = &'a PosixUser>,
    ) -> GroupClaims {
        let mut space = GroupClaims::default();
        for g in groups {
            space.claim(&g.name, g.gid);
        }
        for u in users {
            space.count_user(u.gid);
        }
        space
    }

    /// A group holds `name` and `gid`.
    pub fn claim(&mut self, name: &str, gid: u32) {
        self.names.insert(name.to_ascii_lowercase());
        self.gids.insert(gid);
    }

    /// A group holds `name` (its gid unknown or claimed separately).
    pub fn claim_name(&mut self, name: &str) {
        self.names.insert(name.to_ascii_lowercase());
    }

    /// A group, even one refused, claims `gid`.
    pub fn claim_gid(&mut self, gid: u32) {
        self.gids.insert(gid);
    }

    /// One more directory user has primary gid `gid`.
    pub fn count_user(&mut self, gid: u32) {
        *self.users_per_gid.entry(gid).or_default() += 1;
    }
}

impl GroupSpace for GroupClaims {
    fn gid_taken(&self, gid: u32) -> bool {
        self.gids.contains(&gid)
    }
    fn name_taken(&self, name: &str) -> bool {
        self.names.contains(&name.to_ascii_lowercase())
    }
    fn users_with_gid(&self, gid: u32) -> usize {
        self.users_per_gid.get(&gid).copied().unwrap_or(0)
    }
}

/// The user private group of `user`, or why there is none. Never takes a local group's
/// name or gid, nor a name or gid a directory group has.
pub fn private_group(
    user: &PosixUser,
    space: &impl GroupSpace,
    local: &LocalAccounts,
) -> Result<PosixGroup, NoPrivateGroup> {
    if space.gid_taken(user.gid) {
        Err(NoPrivateGroup::GidIsDirectoryGroup)
    } else if local.gids.contains(&user.gid) {
        Err(NoPrivateGroup::GidIsLocal)
    } else if space.users_with_gid(user.gid) > 1 {
        Err(NoPrivateGroup::GidShared)
    } else if space.name_taken(&user.name) || local.group_named_like(&user.name).is_some() {
        Err(NoPrivateGroup::NameTaken)
    } else {
        Ok(PosixGroup {
            scim_id: String::new(),
            name: user.name.clone(),
            gid: user.gid,
            members: Vec::new(),
        })
    }
}

/// [`private_group`] for the paths that build what is served (the full copy and the
/// on-demand merge): the group, or `None` with the reason in the debug log. A gid a
/// directory group has is not worth a line: the user simply belongs to that group.
pub fn granted_private_group(
    user: &PosixUser,
    space: &impl GroupSpace,
    local: &LocalAccounts,
) -> Option<PosixGroup> {
    match private_group(user, space, local) {
        Ok(g) => Some(g),
        Err(NoPrivateGroup::GidIsDirectoryGroup) => None,
        Err(why) => {
            log::debug!(
                "no user private group for '{}' (gid {}): {}",
                user.name,
                user.gid,
                why.as_str()
            );
            None
        }
    }
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
