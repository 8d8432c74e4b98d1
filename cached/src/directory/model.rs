//! The POSIX view of the directory: what the cache stores and the socket serves.
//!
//! Everything here has already passed validation (`directory::validate`): names are
//! acceptable (`validate::name_problem`), no field contains `:`, a newline, a NUL or another control character,
//! ids are within the configured minimum and not `(uid_t)-1`, homes are absolute.

/// One directory user, mapped per design.md §2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PosixUser {
    /// SCIM `id`; member lists of groups refer to it.
    pub scim_id: String,
    /// `pw_name`.
    pub name: String,
    /// `pw_uid`.
    pub uid: u32,
    /// `pw_gid`.
    pub gid: u32,
    /// `pw_gecos`.
    pub gecos: String,
    /// `pw_dir`.
    pub home: String,
    /// `pw_shell`.
    pub shell: String,
    /// SCIM `active`; an inactive user's shadow entry is locked (`!` + hash).
    pub active: bool,
}

/// One directory group (or a synthesised user private group).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PosixGroup {
    /// SCIM `id`; empty for a synthesised user private group.
    pub scim_id: String,
    /// `gr_name`.
    pub name: String,
    /// `gr_gid`.
    pub gid: u32,
    /// `gr_mem`: POSIX names of valid users, in SCIM order, without duplicates.
    pub members: Vec<String>,
}

/// The shadow hash of one user as fetched with the admin token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShadowEntry {
    /// `sp_namp` (the user's POSIX name).
    pub name: String,
    /// `sp_pwdp` as served: `*` when none, `!` + hash when the user is inactive.
    pub pwdp: String,
}

/// Whether a refused entry was a user or a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntryKind {
    User,
    Group,
}

/// Why the daemon refused a SCIM entry. `as_str` is the key in `status --json`
/// `refused`, so the names are part of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RefusalReason {
    /// The resource is not a JSON object or lacks `id`.
    Malformed,
    /// No `posixUserId` (users) or `posixGroupId` (groups).
    MissingId,
    /// Id not a non-negative integer below 2^32 - 1.
    InvalidId,
    /// Id below `min-uid`/`min-gid` (0 included).
    IdBelowMinimum,
    /// Name not acceptable (`validate::name_problem`), or none can be derived.
    InvalidName,
    /// `:`, newline, NUL or another control character in a field.
    ControlCharacter,
    /// A field longer than its limit.
    FieldTooLong,
    /// `homeDirectory` not absolute.
    RelativeHome,
    /// A home with an empty, `.` or `..` component or a trailing `/` (`/home/../etc`,
    /// `/home//a`, `/home/a/`): it must name its directory one way only.
    HomeNotNormalised,
    /// `home-must-be-under` is set and the home is not strictly below one of its roots.
    HomeOutsideRoots,
    /// The name is in `reserved-names` (privileged names never taken from a directory).
    ReservedName,
    /// The user's primary gid is a local group's gid not listed in `local-primary-gids`.
    PrimaryGidIsLocal,
    /// Another entry already has this name.
    DuplicateName,
    /// Another entry already has this id.
    DuplicateId,
    /// Name or id collides with `/etc/passwd` or `/etc/group`: local accounts win.
    CollidesWithLocal,
    /// `shadowPassword` is not a crypt-style string (the passwd entry stays).
    BadShadow,
}

impl RefusalReason {
    /// Every reason, in the order the documentation lists them.
    pub const ALL: [RefusalReason; 16] = [
        RefusalReason::Malformed,
        RefusalReason::MissingId,
        RefusalReason::InvalidId,
        RefusalReason::IdBelowMinimum,
        RefusalReason::InvalidName,
        RefusalReason::ControlCharacter,
        RefusalReason::FieldTooLong,
        RefusalReason::RelativeHome,
        RefusalReason::HomeNotNormalised,
        RefusalReason::HomeOutsideRoots,
        RefusalReason::DuplicateName,
        RefusalReason::DuplicateId,
        RefusalReason::CollidesWithLocal,
        RefusalReason::ReservedName,
        RefusalReason::PrimaryGidIsLocal,
        RefusalReason::BadShadow,
    ];

    /// One line for the man page: what makes an entry refused for this reason.
    pub fn meaning(self) -> &'static str {
        match self {
            RefusalReason::Malformed => "the resource is not a JSON object, has no id, or a field has the wrong JSON type",
            RefusalReason::MissingId => "no posixUserId (users) or posixGroupId (groups)",
            RefusalReason::InvalidId => "an id that is not a whole JSON number below 4294967295",
            RefusalReason::IdBelowMinimum => "an id (or primary gid) below min-uid or min-gid",
            RefusalReason::InvalidName => "a name that is empty, '.' or '..', starts with '-', is all digits, is longer than 64 bytes, or has a character other than a letter, digit, '.', '_' or '-' (such as ':', ',', '/', whitespace, '@' or non-ASCII)",
            RefusalReason::ControlCharacter => "':', a newline, NUL or another control character in a field",
            RefusalReason::FieldTooLong => "a field longer than its limit",
            RefusalReason::RelativeHome => "a home directory that is not an absolute path",
            RefusalReason::HomeNotNormalised => "a home with an empty, '.' or '..' component or a trailing '/' (/home/../etc, /home//a, /home/a/); / itself is accepted",
            RefusalReason::HomeOutsideRoots => "home-must-be-under is set and the home (given, or derived from home-root) is not strictly below one of its roots",
            RefusalReason::DuplicateName => "another directory entry of the same kind has the name (all holders are refused)",
            RefusalReason::DuplicateId => "another directory entry of the same kind has the id or the SCIM id (all holders are refused)",
            RefusalReason::CollidesWithLocal => "the name or id is in /etc/passwd or /etc/group: local accounts win",
            RefusalReason::ReservedName => "the user or group name is in reserved-names",
            RefusalReason::PrimaryGidIsLocal => "the user's primary gid is a group in /etc/group not listed in local-primary-gids",
            RefusalReason::BadShadow => "shadowPassword is not a crypt(3) hash: the hash is refused, the user stays with password login disabled",
        }
    }

    /// What an administrator can do about it, naming the key to change; `status` prints
    /// it under each reason present, and workbench-nss.conf(5) lists it under REFUSED
    /// ENTRIES (one table of reasons and fixes).
    pub fn fix(self) -> &'static str {
        match self {
            RefusalReason::Malformed | RefusalReason::MissingId | RefusalReason::InvalidId => {
                "fix the entry in Workbench or the identity provider (see workbench-nss.conf(5), REFUSED ENTRIES)"
            }
            RefusalReason::IdBelowMinimum => {
                "a taken-over account with a low id: lower min-uid (users) or min-gid (groups) to that id, never 0 (see workbench-nss.conf(5), KEYS: min-uid, min-gid)"
            }
            RefusalReason::InvalidName => {
                "rename it in Workbench (posixUserName or posixGroupName); see workbench-nss.conf(5), NAMES"
            }
            RefusalReason::ControlCharacter
            | RefusalReason::FieldTooLong
            | RefusalReason::RelativeHome
            | RefusalReason::HomeNotNormalised => {
                "fix the field in Workbench or the identity provider (see workbench-nss.conf(5), REFUSED ENTRIES)"
            }
            RefusalReason::HomeOutsideRoots => {
                "move the home, or add its root to home-must-be-under (see workbench-nss.conf(5), KEYS: home-must-be-under)"
            }
            RefusalReason::ReservedName => {
                "rename it in Workbench, or take the name out of reserved-names (see workbench-nss.conf(5), KEYS: reserved-names)"
            }
            RefusalReason::PrimaryGidIsLocal => {
                "add the gid to local-primary-gids if every such user may have that group (see workbench-nss.conf(5), KEYS: local-primary-gids)"
            }
            RefusalReason::DuplicateName | RefusalReason::DuplicateId => {
                "give each entry its own name and id in Workbench (see workbench-nss.conf(5), REFUSED ENTRIES)"
            }
            RefusalReason::CollidesWithLocal => {
                "a taken-over account needs the same name and uid as its /etc/passwd line; otherwise rename or renumber one of them (see workbench-nss.conf(5), TAKEN-OVER ACCOUNTS)"
            }
            RefusalReason::BadShadow => {
                "reset the password in Workbench (see workbench-nss.conf(5), REFUSED ENTRIES)"
            }
        }
    }

    /// The reason whose [`RefusalReason::as_str`] is `key`.
    pub fn from_key(key: &str) -> Option<RefusalReason> {
        RefusalReason::ALL.into_iter().find(|r| r.as_str() == key)
    }

    /// Stable key used in `status` output and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            RefusalReason::Malformed => "malformed",
            RefusalReason::MissingId => "missing_id",
            RefusalReason::InvalidId => "invalid_id",
            RefusalReason::IdBelowMinimum => "id_below_minimum",
            RefusalReason::InvalidName => "invalid_name",
            RefusalReason::ControlCharacter => "control_character",
            RefusalReason::FieldTooLong => "field_too_long",
            RefusalReason::RelativeHome => "relative_home",
            RefusalReason::HomeNotNormalised => "home_not_normalised",
            RefusalReason::HomeOutsideRoots => "home_outside_roots",
            RefusalReason::ReservedName => "reserved_name",
            RefusalReason::PrimaryGidIsLocal => "primary_gid_is_local",
            RefusalReason::DuplicateName => "duplicate_name",
            RefusalReason::DuplicateId => "duplicate_id",
            RefusalReason::CollidesWithLocal => "collides_with_local",
            RefusalReason::BadShadow => "bad_shadow",
        }
    }
}

/// One refused entry, logged once per sync with its SCIM id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub kind: EntryKind,
    /// SCIM `id`, or `"(no id)"` when absent.
    pub scim_id: String,
    pub reason: RefusalReason,
    /// Human detail for the log (which field, which value); never a token or a hash.
    pub detail: String,
}

/// The result of mapping one full copy of Users and Groups.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Directory {
    /// Valid users, sorted by uid.
    pub users: Vec<PosixUser>,
    /// Valid groups (SCIM groups plus user private groups), sorted by gid.
    pub groups: Vec<PosixGroup>,
    /// Shadow entries keyed by the same users (only filled when the admin token worked).
    pub shadow: Vec<ShadowEntry>,
    /// Every refusal from this copy.
    pub refused: Vec<Refusal>,
    /// Gids claimed by SCIM groups this copy refused, sorted: no user private group may
    /// stand in for them when a user is merged on its own later. Not kept in the cache.
    pub refused_group_gids: Vec<u32>,
    /// Names of the `users` that are local accounts taken over by Workbench (same name
    /// and uid as a line of /etc/passwd; `rules::is_same_account`), sorted. Their passwd
    /// and shadow lines come from the local files, never from here; they keep their
    /// group memberships. Recomputed from the local files on every path, not cached.
    pub same_account: Vec<String>,
}

impl Directory {
    /// Whether user `name` is a local account taken over by Workbench.
    pub fn is_same_account(&self, name: &str) -> bool {
        self.same_account
            .binary_search_by(|n| n.as_str().cmp(name))
            .is_ok()
    }
}
