//! SCIM Users and Groups → POSIX entries (design.md §2), refusing hostile ones (§6).
//!
//! Rules beyond the table in design.md:
//! - JSON `null` is "absent"; unknown attributes are ignored; a value of the wrong JSON
//!   type where an object/array/string is required refuses the entry (`malformed`, or
//!   `invalid_name`/`invalid_id` for names and ids). Cosmetic fields (`displayName`,
//!   `name.formatted`) of the wrong type are treated as absent.
//! - `active` absent → active; anything but `true`/`false` → inactive (fail closed).
//! - Every entry sharing a name, an id or a SCIM id with another valid entry of the same
//!   kind is refused, all of them, so the answer never depends on the order of the data.
//! - `gecos` over [`MAX_GECOS`] bytes is truncated at a character boundary, not refused.
//! - Shadow: a `shadowPassword` that is not crypt-style refuses the *hash* only: the
//!   user keeps the passwd entry and gets `*` (login impossible, entry present so
//!   `getspnam` agrees with `getpwnam`), and a `bad_shadow` refusal is reported.
//!   A valid user absent from the admin copy (created between the two fetches) gets `*`.

use super::group_name::coerce_group_name;
use super::local_accounts::LocalAccounts;
use super::model::{
    Directory, EntryKind, PosixGroup, PosixUser, Refusal, RefusalReason, ShadowEntry,
};
use super::rules::{self, GroupClaims};
use super::validate::{
    check_field, check_home, check_id, check_name, is_crypt_hash, truncate_at_char_boundary,
    Problem, MAX_EXCERPT, MAX_GECOS, MAX_MEMBERS, MAX_SCIM_ID,
};
use crate::config::Config;
use crate::scim::attributes as attr;
use crate::scim::nesting::REFUSED_MARKER;
use crate::text::one_line::one_line;
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};

/// `Refusal::scim_id` when the resource has no usable id.
pub const NO_ID: &str = "(no id)";

/// A group as mapped, before member ids are resolved to user names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedGroup {
    pub scim_id: String,
    pub name: String,
    pub gid: u32,
    /// `members[].value` in SCIM order (unresolved, may contain duplicates).
    pub member_ids: Vec<String>,
}

/// Maps one full copy of Users and Groups (and, when the admin token worked, the same
/// Users fetched with it) into a [`Directory`]. Never panics, whatever the JSON.
pub fn build_directory(
    users: &[Value],
    groups: &[Value],
    admin_users: Option<&[Value]>,
    cfg: &Config,
    local: &LocalAccounts,
) -> Directory {
    let mapped = users.iter().map(|v| map_user(v, cfg, local)).collect();
    let groups = groups
        .iter()
        .map(|v| map_arrived_group(v, cfg, local))
        .collect();
    let admin: Option<Vec<AdminFields>> =
        admin_users.map(|a| a.iter().cloned().map(keep_shadow_fields).collect());
    build_directory_mapped(mapped, groups, admin.as_deref(), cfg, local)
}

/// One User resource as [`map_user`] left it: the user, or why it was refused. A sync
/// maps each user as its page arrives and keeps only this, never the whole directory
/// as JSON.
pub type MappedUser = Result<PosixUser, Refusal>;

/// One Group resource as [`map_arrived_group`] left it. A sync maps each group as its
/// page arrives and keeps only this (a few names and the member ids), never the Groups
/// copy as JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArrivedGroup {
    /// The gid the resource claims, even when the group is refused: a user private
    /// group must never stand in for a group the server does have.
    pub claimed_gid: Option<u32>,
    pub mapped: Result<MappedGroup, Refusal>,
}

/// Maps one Group resource for [`build_directory_mapped`].
pub fn map_arrived_group(v: &Value, cfg: &Config, local: &LocalAccounts) -> ArrivedGroup {
    ArrivedGroup {
        claimed_gid: claimed_gid(v),
        mapped: map_group(v, cfg, local),
    }
}

/// [`build_directory`] from users and groups already mapped one by one with
/// [`map_user`] and [`map_arrived_group`] (same `cfg` and `local`), in server order.
pub fn build_directory_mapped(
    users: Vec<MappedUser>,
    groups: Vec<ArrivedGroup>,
    admin_users: Option<&[AdminFields]>,
    cfg: &Config,
    local: &LocalAccounts,
) -> Directory {
    let mut refused = Vec::new();

    let mut user_candidates = Vec::with_capacity(users.len());
    for mapped in users {
        match mapped {
            Ok(u) => user_candidates.push(u),
            Err(r) => refused.push(r),
        }
    }
    let mut users = refuse_duplicates(
        user_candidates,
        EntryKind::User,
        |u| (u.scim_id.as_str(), u.name.as_str(), u.uid),
        &mut refused,
    );

    let mut group_candidates = Vec::with_capacity(groups.len());
    // Every gid some SCIM group claims, even a group refused for another reason: a user
    // private group must never stand in for a group the server does have.
    let mut space = GroupClaims::default();
    let mut claimed_gids = std::collections::BTreeSet::new();
    for arrived in groups {
        if let Some(gid) = arrived.claimed_gid {
            space.claim_gid(gid);
            claimed_gids.insert(gid);
        }
        match arrived.mapped {
            Ok(g) => group_candidates.push(g),
            Err(r) => refused.push(r),
        }
    }
    for g in &group_candidates {
        space.claim_name(&g.name);
    }
    let valid_groups = refuse_duplicates(
        group_candidates,
        EntryKind::Group,
        |g| (g.scim_id.as_str(), g.name.as_str(), g.gid),
        &mut refused,
    );

    users.sort_by_key(|u| u.uid);
    let name_by_scim_id: HashMap<&str, &str> = users
        .iter()
        .map(|u| (u.scim_id.as_str(), u.name.as_str()))
        .collect();
    let mut groups: Vec<PosixGroup> = valid_groups
        .into_iter()
        .map(|g| {
            let mut seen = HashSet::new();
            let members = g
                .member_ids
                .iter()
                .filter_map(|id| name_by_scim_id.get(id.as_str()).copied())
                .filter(|name| seen.insert(*name))
                .map(str::to_string)
                .collect();
            PosixGroup {
                scim_id: g.scim_id,
                name: g.name,
                gid: g.gid,
                members,
            }
        })
        .collect();

    if cfg.user_private_groups {
        for u in &users {
            space.count_user(u.gid);
        }
        // A taken-over account has its local primary group; its directory gid is
        // never served, so no private group is made for it.
        for u in users.iter().filter(|u| !rules::is_same_account(u, local)) {
            if let Some(g) = rules::granted_private_group(u, &space, local) {
                space.claim_name(&g.name);
                groups.push(g);
            }
        }
    }
    groups.sort_by_key(|g| g.gid);
    for g in &groups {
        claimed_gids.remove(&g.gid);
    }

    // A taken-over account's password is the local shadow line's.
    let shadow = match admin_users {
        Some(admin) => build_shadow(&users, admin, &mut refused),
        None => Vec::new(),
    };

    let mut dir = Directory {
        users,
        groups,
        shadow,
        refused,
        refused_group_gids: claimed_gids.into_iter().collect(),
        same_account: Vec::new(),
    };
    rules::mark_same_accounts(&mut dir, local);
    if !dir.same_account.is_empty() {
        log::debug!(
            "{} local account(s) taken over by Workbench (same name and uid as in \
             /etc/passwd: the local line answers, directory groups kept): {}",
            dir.same_account.len(),
            dir.same_account.join(" ")
        );
    }
    dir
}

/// Keeps the entries whose SCIM id, name and id are each unique among `entries`; every
/// other entry is refused (all of those sharing a value, not all but the first).
fn refuse_duplicates<T>(
    entries: Vec<T>,
    kind: EntryKind,
    keys: impl Fn(&T) -> (&str, &str, u32),
    refused: &mut Vec<Refusal>,
) -> Vec<T> {
    let noun = match kind {
        EntryKind::User => ("users", "uid"),
        EntryKind::Group => ("groups", "gid"),
    };
    let verdicts: Vec<Option<Problem>> = {
        let mut by_scim_id: HashMap<&str, usize> = HashMap::with_capacity(entries.len());
        // Names count as the same ignoring ASCII case: sudo and other tools match them
        // that way, so `alice` and `Alice` are one name held twice.
        let mut by_name: HashMap<String, usize> = HashMap::with_capacity(entries.len());
        let mut by_id: HashMap<u32, usize> = HashMap::with_capacity(entries.len());
        for e in &entries {
            let (scim_id, name, id) = keys(e);
            *by_scim_id.entry(scim_id).or_default() += 1;
            *by_name.entry(name.to_ascii_lowercase()).or_default() += 1;
            *by_id.entry(id).or_default() += 1;
        }
        let count = |m: &HashMap<&str, usize>, k: &str| m.get(k).copied().unwrap_or(0);
        entries
            .iter()
            .map(|e| {
                let (scim_id, name, id) = keys(e);
                let n_name = by_name
                    .get(&name.to_ascii_lowercase())
                    .copied()
                    .unwrap_or(0);
                let n_scim = count(&by_scim_id, scim_id);
                let n_id = by_id.get(&id).copied().unwrap_or(0);
                if n_scim > 1 {
                    Some(Problem::new(
                        RefusalReason::DuplicateId,
                        format!("SCIM id is shared by {n_scim} {} (all refused)", noun.0),
                    ))
                } else if n_name > 1 {
                    Some(Problem::new(
                        RefusalReason::DuplicateName,
                        format!(
                            "name '{name}' is shared by {n_name} {} (ignoring case; all refused)",
                            noun.0
                        ),
                    ))
                } else if n_id > 1 {
                    Some(Problem::new(
                        RefusalReason::DuplicateId,
                        format!(
                            "{} {id} is shared by {n_id} {} (all refused)",
                            noun.1, noun.0
                        ),
                    ))
                } else {
                    None
                }
            })
            .collect()
    };
    let mut kept = Vec::with_capacity(entries.len());
    for (e, verdict) in entries.into_iter().zip(verdicts) {
        match verdict {
            Some(p) => refused.push(refusal(kind, keys(&e).0, p)),
            None => kept.push(e),
        }
    }
    kept
}

fn refusal(kind: EntryKind, scim_id: &str, p: Problem) -> Refusal {
    Refusal {
        kind,
        scim_id: scim_id.to_string(),
        reason: p.reason,
        detail: p.detail,
    }
}

/// `obj[key]`, with JSON `null` read as absent.
fn get<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

/// The extension object `urn` of `obj`, if present.
fn extension<'a>(
    obj: &'a Map<String, Value>,
    urn: &str,
) -> Result<Option<&'a Map<String, Value>>, Problem> {
    match get(obj, urn) {
        None => Ok(None),
        Some(Value::Object(ext)) => Ok(Some(ext)),
        Some(_) => Err(Problem::new(
            RefusalReason::Malformed,
            "the Workbench extension is not a JSON object",
        )),
    }
}

fn json_text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The resource's object and SCIM id, or the refusal when it has neither.
fn resource(v: &Value, kind: EntryKind) -> Result<(&Map<String, Value>, String), Refusal> {
    let malformed = |scim_id: &str, detail: String| Refusal {
        kind,
        scim_id: scim_id.to_string(),
        reason: RefusalReason::Malformed,
        detail,
    };
    let Value::Object(obj) = v else {
        return Err(malformed(
            NO_ID,
            format!("the resource is {}, not an object", json_type(v)),
        ));
    };
    match get(obj, attr::ID) {
        None => Err(malformed(NO_ID, "the resource has no id".to_string())),
        Some(Value::String(id)) if id.is_empty() => {
            Err(malformed(NO_ID, "the resource has an empty id".to_string()))
        }
        Some(Value::String(id)) => match check_field("id", id, MAX_SCIM_ID) {
            Ok(()) => match obj.get(REFUSED_MARKER) {
                // Refused while parsing (e.g. absurd nesting): only the id survived.
                Some(why) => Err(malformed(id, json_text(why))),
                None => Ok((obj, id.clone())),
            },
            Err(p) => Err(refusal(kind, &one_line(id, MAX_EXCERPT), p)),
        },
        Some(other) => Err(malformed(
            NO_ID,
            format!("id is {}, not a string", json_type(other)),
        )),
    }
}

/// Maps one User resource (per-entry checks and local collisions; duplicates across
/// entries are [`build_directory`]'s job).
pub fn map_user(v: &Value, cfg: &Config, local: &LocalAccounts) -> Result<PosixUser, Refusal> {
    let (obj, scim_id) = resource(v, EntryKind::User)?;
    user_fields(obj, &scim_id, cfg, local).map_err(|p| refusal(EntryKind::User, &scim_id, p))
}

fn user_fields(
    obj: &Map<String, Value>,
    scim_id: &str,
    cfg: &Config,
    local: &LocalAccounts,
) -> Result<PosixUser, Problem> {
    let ext = extension(obj, attr::USER_EXTENSION)?;
    let ext_get = |key: &str| ext.and_then(|e| get(e, key));

    let name = match ext_get(attr::POSIX_USER_NAME) {
        Some(Value::String(n)) => {
            check_name(attr::POSIX_USER_NAME, n)?;
            n.clone()
        }
        Some(other) => {
            return Err(Problem::new(
                RefusalReason::InvalidName,
                format!(
                    "{} is {}, not a string",
                    attr::POSIX_USER_NAME,
                    json_type(other)
                ),
            ))
        }
        None => match get(obj, attr::USER_NAME) {
            Some(Value::String(user_name)) => {
                let base = user_name
                    .rsplit_once('@')
                    .map_or(user_name.as_str(), |(b, _)| b);
                check_name(attr::USER_NAME, base)?;
                base.to_string()
            }
            _ => {
                return Err(Problem::new(
                    RefusalReason::InvalidName,
                    "neither posixUserName nor userName is a string",
                ))
            }
        },
    };

    let uid = match ext_get(attr::POSIX_USER_ID) {
        Some(v) => check_id(attr::POSIX_USER_ID, v, cfg.min_uid)?,
        None => {
            return Err(Problem::new(
                RefusalReason::MissingId,
                format!("no {}", attr::POSIX_USER_ID),
            ))
        }
    };
    let gid = match ext_get(attr::POSIX_GROUP_ID) {
        Some(v) => rules::primary_gid(v, cfg, local)?,
        None if uid < cfg.min_gid => {
            return Err(Problem::new(
                RefusalReason::IdBelowMinimum,
                format!(
                    "primary gid {uid} (the uid) is below min-gid {}",
                    cfg.min_gid
                ),
            ))
        }
        None => uid,
    };

    let display = match get(obj, attr::DISPLAY_NAME) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.as_str()),
        _ => None,
    };
    let formatted = match get(obj, attr::NAME) {
        Some(Value::Object(n)) => match get(n, attr::NAME_FORMATTED) {
            Some(Value::String(s)) if !s.is_empty() => Some(s.as_str()),
            _ => None,
        },
        _ => None,
    };
    let gecos_source = display.or(formatted).unwrap_or("");
    check_field("displayName/name.formatted", gecos_source, usize::MAX)?;
    let gecos = truncate_at_char_boundary(gecos_source, MAX_GECOS).to_string();

    let home = match ext_get(attr::HOME_DIRECTORY) {
        Some(Value::String(h)) => h.clone(),
        Some(other) => {
            return Err(Problem::new(
                RefusalReason::Malformed,
                format!(
                    "{} is {}, not a string",
                    attr::HOME_DIRECTORY,
                    json_type(other)
                ),
            ))
        }
        None if cfg.home_root.ends_with('/') => format!("{}{name}", cfg.home_root),
        None => format!("{}/{name}", cfg.home_root),
    };
    check_home(&home)?;

    let active = !matches!(get(obj, attr::ACTIVE), Some(v) if v != &Value::Bool(true));

    let user = PosixUser {
        scim_id: scim_id.to_string(),
        name,
        uid,
        gid,
        gecos,
        home,
        shell: cfg.default_shell.clone(),
        active,
    };
    rules::check_user(&user, cfg, local)?;
    Ok(user)
}

/// The gid a Group resource claims, whether or not the group is otherwise valid.
fn claimed_gid(v: &Value) -> Option<u32> {
    let ext = v.get(attr::GROUP_EXTENSION)?;
    let id = ext.get(attr::POSIX_GROUP_ID)?.as_u64()?;
    u32::try_from(id).ok()
}

/// Maps one Group resource (per-entry checks and local collisions).
pub fn map_group(v: &Value, cfg: &Config, local: &LocalAccounts) -> Result<MappedGroup, Refusal> {
    let (obj, scim_id) = resource(v, EntryKind::Group)?;
    group_fields(obj, &scim_id, cfg, local).map_err(|p| refusal(EntryKind::Group, &scim_id, p))
}

fn group_fields(
    obj: &Map<String, Value>,
    scim_id: &str,
    cfg: &Config,
    local: &LocalAccounts,
) -> Result<MappedGroup, Problem> {
    let ext = extension(obj, attr::GROUP_EXTENSION)?;
    let ext_get = |key: &str| ext.and_then(|e| get(e, key));

    let gid = match ext_get(attr::POSIX_GROUP_ID) {
        Some(v) => check_id(attr::POSIX_GROUP_ID, v, cfg.min_gid)?,
        None => {
            return Err(Problem::new(
                RefusalReason::MissingId,
                format!("no {}", attr::POSIX_GROUP_ID),
            ))
        }
    };
    let name = match ext_get(attr::POSIX_GROUP_NAME) {
        Some(Value::String(n)) => {
            check_name(attr::POSIX_GROUP_NAME, n)?;
            n.clone()
        }
        Some(other) => {
            return Err(Problem::new(
                RefusalReason::InvalidName,
                format!(
                    "{} is {}, not a string",
                    attr::POSIX_GROUP_NAME,
                    json_type(other)
                ),
            ))
        }
        None => match get(obj, attr::DISPLAY_NAME) {
            Some(Value::String(d)) => coerce_group_name(d),
            _ => {
                return Err(Problem::new(
                    RefusalReason::InvalidName,
                    "neither posixGroupName nor displayName is a string",
                ))
            }
        },
    };
    let member_ids = match get(obj, attr::MEMBERS) {
        None => Vec::new(),
        Some(Value::Array(members)) if members.len() > MAX_MEMBERS => {
            return Err(Problem::new(
                RefusalReason::FieldTooLong,
                format!(
                    "members lists {} values, more than {MAX_MEMBERS}",
                    members.len()
                ),
            ))
        }
        Some(Value::Array(members)) => members
            .iter()
            .filter_map(|m| match m.get(attr::MEMBER_VALUE) {
                Some(Value::String(id)) if id.len() <= MAX_SCIM_ID => Some(id.clone()),
                _ => None,
            })
            .collect(),
        Some(other) => {
            return Err(Problem::new(
                RefusalReason::Malformed,
                format!("members is {}, not an array", json_type(other)),
            ))
        }
    };
    rules::check_group(&name, gid, cfg, local)?;
    Ok(MappedGroup {
        scim_id: scim_id.to_string(),
        name,
        gid,
        member_ids,
    })
}

/// What the admin copy says about one user.
#[derive(Debug, Clone, PartialEq, Eq)]
enum AdminShadow {
    /// No usable hash (absent, null, empty, `*`).
    None,
    Hash(String),
    Bad(String),
}

/// The shadow entry of one valid user from an admin-token lookup (the on-demand path);
/// the same rules as a full copy.
pub fn map_shadow(user: &PosixUser, admin: &[Value], refused: &mut Vec<Refusal>) -> ShadowEntry {
    let admin: Vec<AdminFields> = admin.iter().cloned().map(keep_shadow_fields).collect();
    map_shadow_fields(user, &admin, refused)
}

/// [`map_shadow`] from what a sync kept of the resources ([`keep_shadow_fields`]).
pub fn map_shadow_fields(
    user: &PosixUser,
    admin: &[AdminFields],
    refused: &mut Vec<Refusal>,
) -> ShadowEntry {
    build_shadow(std::slice::from_ref(user), admin, refused)
        .pop()
        .unwrap_or_else(|| ShadowEntry {
            name: user.name.clone(),
            pwdp: "*".to_string(),
        })
}

/// What shadow data is built from in one admin-token User resource: its `id`, whether
/// it is `active` (absent counts as active, anything but `true` as not), and the Workbench
/// extension's `shadowPassword`, judged as it arrives. The sync keeps only this of each
/// resource as its page arrives: about 200 bytes a user, where the JSON it comes from,
/// kept as a value, took over a kilobyte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminFields {
    id: Option<String>,
    active: bool,
    shadow: AdminShadow,
}

impl AdminFields {
    /// The resource's SCIM `id`, when it is a string.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }
}

/// Keeps [`AdminFields`] of one admin-token User resource (nothing of anything that is
/// not an object).
pub fn keep_shadow_fields(v: Value) -> AdminFields {
    let Value::Object(obj) = v else {
        return AdminFields {
            id: None,
            active: true,
            shadow: AdminShadow::None,
        };
    };
    let id = match get(&obj, attr::ID) {
        Some(Value::String(id)) => Some(id.clone()),
        _ => None,
    };
    AdminFields {
        id,
        active: !matches!(get(&obj, attr::ACTIVE), Some(v) if v != &Value::Bool(true)),
        shadow: admin_hash(&obj),
    }
}

/// One shadow entry per valid user (in `users` order).
fn build_shadow(
    users: &[PosixUser],
    admin: &[AdminFields],
    refused: &mut Vec<Refusal>,
) -> Vec<ShadowEntry> {
    let mut by_id: HashMap<&str, Vec<&AdminFields>> = HashMap::new();
    for fields in admin {
        if let Some(id) = &fields.id {
            by_id.entry(id.as_str()).or_default().push(fields);
        }
    }
    let mut shadow = Vec::with_capacity(users.len());
    for u in users {
        let (found, admin_active) = match by_id.get(u.scim_id.as_str()).map(Vec::as_slice) {
            None | Some([]) => (AdminShadow::None, true),
            Some([fields]) => (fields.shadow.clone(), fields.active),
            Some(many) => (
                AdminShadow::Bad(format!(
                    "the admin copy holds {} resources with this id",
                    many.len()
                )),
                true,
            ),
        };
        let locked = !u.active || !admin_active;
        let hash = match found {
            AdminShadow::Hash(h) => Some(h),
            AdminShadow::None => None,
            AdminShadow::Bad(why) => {
                refused.push(Refusal {
                    kind: EntryKind::User,
                    scim_id: u.scim_id.clone(),
                    reason: RefusalReason::BadShadow,
                    detail: format!("{why}; password login disabled ('*'), passwd entry kept"),
                });
                None
            }
        };
        let pwdp = match (hash, locked) {
            (Some(h), false) => h,
            (Some(h), true) if h.starts_with('!') => h,
            (Some(h), true) => format!("!{h}"),
            (None, false) => "*".to_string(),
            (None, true) => "!*".to_string(),
        };
        shadow.push(ShadowEntry {
            name: u.name.clone(),
            pwdp,
        });
    }
    shadow
}

/// The hash in the admin copy of one user. A leading `!` (already locked) is kept.
/// Details never contain the value.
fn admin_hash(obj: &Map<String, Value>) -> AdminShadow {
    let ext = match get(obj, attr::USER_EXTENSION) {
        None => return AdminShadow::None,
        Some(Value::Object(ext)) => ext,
        Some(_) => return AdminShadow::Bad("the Workbench extension is not an object".into()),
    };
    match get(ext, attr::SHADOW_PASSWORD) {
        None => AdminShadow::None,
        Some(Value::String(s)) => {
            let unlocked = s.trim_start_matches('!');
            if unlocked.is_empty() || unlocked == "*" {
                // Empty would mean "no password needed" to pam_unix: never serve that.
                AdminShadow::None
            } else if is_crypt_hash(unlocked) {
                AdminShadow::Hash(s.clone())
            } else {
                AdminShadow::Bad(format!(
                    "shadowPassword is not a crypt-style hash ({} bytes)",
                    s.len()
                ))
            }
        }
        Some(other) => AdminShadow::Bad(format!("shadowPassword is {}", json_type(other))),
    }
}

#[cfg(test)]
#[path = "mapping_tests.rs"]
mod tests;
