//! The man pages `workbench-nss.conf(5)` and `workbench-cached(8)` as roff, rendered
//! from the definitions the code runs on: the key table ([`crate::config::keys::KEYS`]), the
//! configuration file paths ([`crate::config::parse`]) and the CLI synopsis
//! ([`crate::cli::args::USAGE`]). The pages are committed under `packaging/man/` (the
//! packages ship them) and a test fails when they differ from what this renders;
//! `WB_UPDATE_MAN=1 cargo test -p cached manpage` rewrites them.

use crate::cli::args::USAGE;
use crate::config::keys::{KeySpec, KEYS};
use crate::config::parse::{DAEMON_CONFIG, WORKBENCH_CONFIG};
use crate::directory::model::RefusalReason;
use std::fmt::Write;

/// File name of the configuration page under `packaging/man/`.
pub const CONFIG_PAGE_FILE: &str = "workbench-nss.conf.5";
/// File name of the daemon page under `packaging/man/`.
pub const DAEMON_PAGE_FILE: &str = "workbench-cached.8";

/// What each command in [`USAGE`] does, keyed by the command word. A test checks that
/// every command in the synopsis is described here and nothing else is.
const COMMANDS: &[(&str, &str)] = &[
    (
        "serve",
        "Runs the daemon (from systemd as the unprivileged user _workbench\\-nss; started \
         by hand, as root). With $CREDENTIALS_DIRECTORY set (systemd's \
         \\fBLoadCredential=user\\-token:\\fR and \\fBadmin\\-token:\\fR) the tokens are read \
         from the copies there and the configured token paths only checked with stat \
         (existence, owner, mode); otherwise the configured paths are read. Credentials \
         are copied at service start; a changed token reaches the running daemon through \
         \\fBreload\\fR (\\fBworkbench\\-cached\\-tokens.path\\fR runs \\fBsystemctl reload\\fR \
         when a default token file changes). A configuration file not owned by \
         root or writable by group or others is refused. With unix:/path the socket's \
         directory must not be writable by others and its listener must run as root or \
         as the socket file's owner; http:// without allow\\-insecure\\-http=1 connects \
         only to loopback addresses (a name is resolved and every address must be \
         loopback). Reads the configuration, \
         listens on socket\\-path, copies Users and Groups from the SCIM API every \
         sync\\-interval and answers the NSS module. Under systemd the socket is bound by \
         \\fBworkbench\\-cached.socket\\fR and passed to the daemon ($LISTEN_FDS), so that \
         it lies outside the service's own mount namespace; it must be bound to \
         socket\\-path, or the daemon refuses to start naming both. Sends READY=1 to \
         $NOTIFY_SOCKET when that is set. Logs to syslog, or to standard error with \\fB\\-\\-foreground\\fR. \
         A configuration it cannot use stops it with the file, line, key and expected \
         form.",
    ),
    (
        "status",
        "Asks the running daemon how it is: server reachable, last complete sync and its \
         age, the last error, token states (ok, missing, rejected, insecure\\-permissions, \
         unreadable), users and groups cached, SCIM entries refused and why (with the fix \
         for each reason; see workbench\\-nss.conf(5), REFUSED ENTRIES), local accounts \
         taken over by Workbench (local_same_account), whether a \
         stale copy is being served, lookups served and the hit ratio. Anyone may ask; \
         root also sees each refused entry with its SCIM id. It also reads this node's \
         /etc/nsswitch.conf and, when Workbench's own module (pwb, libnss_pwb.so.2) is \
         listed or installed, says in lines starting with pwb: in which order the two \
         answer, which one wins for a user both know, and that misses are asked of both \
         (check\\-config prints the same). \\fB\\-\\-json\\fR prints one \
         JSON object whose field names are stable.",
    ),
    (
        "invalidate",
        "Drops cached entries (one user, one group, or everything); the next lookup \
         fetches them again. Running processes stop answering from their in\\-process map \
         before the command returns, so their next call asks the daemon. Root only.",
    ),
    (
        "sync",
        "Copies Users and Groups from the server now and prints what changed. Exits 0 \
         when the copy succeeded, non\\-zero with the reason otherwise. A change is visible \
         to every running process on its next call once the command returns (the \
         in\\-process map it used is retired first). Root only.",
    ),
    (
        "reload",
        "Root only; the unit's \\fBExecReload=\\fR (\\fBsystemctl reload workbench\\-cached\\fR). \
         Reads the configuration (\\fB\\-\\-config\\fR), reads the token files with the \
         daemon's own rules (an admin token not owned by root with mode 0600 is sent as \
         insecure\\-permissions, a missing file as missing: the state, never the token) \
         and sends them to the daemon at socket\\-path (or \\fB\\-\\-socket\\fR), only \
         after checking that the socket's listener runs as root (systemd's socket, or a \
         daemon running as root). The daemon replaces its tokens with these, re\\-reads \
         its configuration as on SIGHUP and goes on serving: no restart, no lookup lost. \
         Prints the token states; exits 0 when the daemon applied them and the user token \
         is ok, 1 otherwise, 4 when not run as root or the listener is not root's.",
    ),
    (
        "check-config",
        "Loads the configuration as \\fBserve\\fR would and prints every effective \
         key=value with where it came from, then the warnings. Exits non\\-zero, naming \
         the file, line, key and expected form, when the configuration would be refused. \
         Anyone may run it.",
    ),
];

/// Escapes text for roff: backslashes, hyphens (so they are not turned into Unicode
/// hyphens, which breaks copying option and key names), and a leading `.` or `'`.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\e"),
            '-' => out.push_str("\\-"),
            _ => out.push(c),
        }
    }
    if out.starts_with('.') || out.starts_with('\'') {
        out.insert_str(0, "\\&");
    }
    out
}

fn header(out: &mut String, name: &str, section: u8, manual: &str) {
    let _ = writeln!(
        out,
        ".\\\" Generated by cached/src/docs/manpage.rs; do not edit by hand."
    );
    let _ = writeln!(
        out,
        ".TH {} {section} \"\" \"libnss\\-workbench {}\" \"{manual}\"",
        escape(&name.to_uppercase()),
        env!("CARGO_PKG_VERSION")
    );
}

fn key_entry(out: &mut String, k: &KeySpec) {
    let _ = writeln!(out, ".TP");
    let _ = writeln!(
        out,
        "\\fB{}\\fR=\\fIvalue\\fR (default: {})",
        escape(k.name),
        escape(k.default_doc())
    );
    let _ = writeln!(out, "{}.", escape(&capitalise(k.doc)));
    let _ = writeln!(out, "Expected: {}.", escape(&k.kind.expected()));
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// `workbench-nss.conf(5)`: the file format and every key from [`KEYS`].
pub fn config_page() -> String {
    let mut o = String::new();
    header(&mut o, "workbench-nss.conf", 5, "File Formats");
    let w = escape(WORKBENCH_CONFIG);
    let d = escape(DAEMON_CONFIG);
    let _ = writeln!(o, ".SH NAME");
    let _ = writeln!(
        o,
        "workbench\\-nss.conf, workbench\\-cached.conf \\- configuration of workbench\\-cached"
    );
    let _ = writeln!(o, ".SH SYNOPSIS");
    let _ = writeln!(o, ".B {w}");
    let _ = writeln!(o, ".br");
    let _ = writeln!(o, ".B {d}");
    let _ = writeln!(o, ".SH DESCRIPTION");
    let _ = writeln!(
        o,
        "\\fBworkbench\\-cached\\fR(8) reads \\fI{w}\\fR, which Posit Workbench generates on \
         every node, then \\fI{d}\\fR, whose keys override it, so local settings never \
         require editing the file Workbench owns. With \\fB\\-\\-config\\fR \\fIFILE\\fR \
         only \\fIFILE\\fR is read."
    );
    let _ = writeln!(o, ".PP");
    let _ = writeln!(
        o,
        "Each line is \\fIkey\\fR=\\fIvalue\\fR; blank lines and lines starting with # are \
         ignored. An unknown key is a warning. A bad value stops the daemon (and makes \
         \\fBworkbench\\-cached check\\-config\\fR exit non\\-zero) with the file, line, key \
         and the expected form."
    );
    let _ = writeln!(o, ".SH KEYS");
    for k in KEYS {
        key_entry(&mut o, k);
    }
    let _ = writeln!(o, ".SH TOKENS");
    let _ = writeln!(
        o,
        "The user token (READ, USER level) is used for passwd and group data; the admin \
         token (READ, ADMIN level) only for shadow data. The admin token file must be owned \
         by root with mode 0600, otherwise it is refused and shadow lookups are \
         unavailable. Token files are re\\-read on SIGHUP and whenever they change; no \
         restart is needed. Under systemd the daemon gets them as credentials copied at \
         start, and \\fBworkbench\\-cached reload\\fR (run by \\fBsystemctl reload\\fR) hands \
         it the changed files."
    );
    let _ = writeln!(o, ".SH REFUSED ENTRIES");
    let _ = writeln!(
        o,
        "Every SCIM entry is checked alone and against the rest, with the same rules on \
         every path (a full copy, a lookup of an entry not yet copied, a refresh, a refetch \
         after \\fBinvalidate\\fR, the cache a restarted daemon serves, the copy served at \
         SIGHUP). A refused entry is not served; the others are. Each \
         refusal is logged once with the SCIM id and counted in \\fBworkbench\\-cached \
         status\\fR as \\fBrefused.\\fR\\fIreason\\fR (the last copy's refusals plus \
         those met by lookups since). A user private group is never given a name or gid a \
         local or another directory group has (the user is still served). Reasons:"
    );
    for reason in RefusalReason::ALL {
        let _ = writeln!(
            o,
            ".TP\n\\fB{}\\fR\n{}.\n.br\nFix: {}.",
            escape(reason.as_str()),
            escape(&capitalise(reason.meaning())),
            escape(reason.fix())
        );
    }
    let _ = writeln!(o, ".SH NAMES");
    let _ = writeln!(
        o,
        "User and group names are kept as Workbench gives them, in their case: \
         posixUserName, else userName with any @domain removed (John.Smith from \
         John.Smith@corp.example), and posixGroupName. Accepted are ASCII letters of \
         either case, digits, '.', '_' and '-', at most 64 bytes (longer than useradd's \
         32 because IdP user names are; utmp keeps 32, so last and who may show a longer \
         name cut). Refused (invalid_name) is only what breaks tools or security: an \
         empty name, '.' and '..', a leading '-' (read as an option), an all-digit name \
         (read as an id by chown and id), ':', ',', '/', whitespace, control characters \
         (control_character), anything else outside the accepted set, and the \
         reserved\\-names (compared ignoring case). Names that differ only in case count \
         as one name, because sudo and other tools match names ignoring case: a \
         directory name equal to a local user or group name ignoring case is refused \
         (collides_with_local: Deploy cannot pick up the sudo rules of the local deploy), \
         two directory entries of a kind whose names are equal ignoring case are both \
         refused (duplicate_name), and no user private group is made under a name a \
         group has in another case. Lookups are exact and \
         case-sensitive, as glibc's: John.Smith is not john.smith. A name not yet copied \
         is asked of the server by posixUserName, then by userName eq \"name\" or \
         userName sw \"name@\" (userName eq alone when the server refuses that filter)."
    );
    let _ = writeln!(o, ".SH TAKEN-OVER ACCOUNTS");
    let _ = writeln!(
        o,
        "A directory user whose name and uid both equal a line of /etc/passwd is that \
         local account taken over by Workbench, not a collision: the local line answers \
         passwd and shadow (local accounts always win, and pam_unix checks the local \
         password), no private group is made for it, and it keeps its directory group \
         memberships (getent group and id show them). \\fBworkbench\\-cached status\\fR \
         counts these as local_same_account, apart from refusals. A name or a uid that \
         matches a local account in only one of the two is refused as \
         collides_with_local. Taken-over accounts often have uids below 1000: lower \
         min\\-uid to admit them (id_below_minimum otherwise)."
    );
    let _ = writeln!(o, ".SH EXAMPLE");
    let _ = writeln!(o, ".nf");
    let _ = writeln!(o, ".RS");
    let _ = writeln!(o, "server\\-address=https://workbench.example.com");
    let _ = writeln!(o, "positive\\-ttl=300");
    let _ = writeln!(o, "enumerate=0");
    let _ = writeln!(o, ".RE");
    let _ = writeln!(o, ".fi");
    let _ = writeln!(o, ".SH SEE ALSO");
    let _ = writeln!(o, "\\fBworkbench\\-cached\\fR(8), \\fBnsswitch.conf\\fR(5)");
    o
}

/// The command word of one synopsis line of [`USAGE`] (`None` for `--version`).
fn synopsis_lines() -> Vec<&'static str> {
    USAGE
        .lines()
        .map(|l| l.trim_start_matches("usage:").trim())
        .filter_map(|l| l.strip_prefix("workbench-cached "))
        .collect()
}

fn command_word(synopsis: &str) -> &str {
    synopsis.split_whitespace().next().unwrap_or_default()
}

/// Synopsis text with options in bold and placeholders (upper-case words) in italics.
fn synopsis_roff(line: &str) -> String {
    let mut parts = Vec::new();
    for word in line.split(' ') {
        let (lead, rest) = word.split_at(word.len() - word.trim_start_matches(['[', '(']).len());
        let core = rest.trim_end_matches([']', ')']);
        let trail = &rest[core.len()..];
        let styled = if core.is_empty() || core == "|" {
            escape(core)
        } else if core.chars().all(|c| c.is_ascii_uppercase()) {
            format!("\\fI{}\\fR", escape(core))
        } else {
            format!("\\fB{}\\fR", escape(core))
        };
        parts.push(format!("{lead}{styled}{trail}"));
    }
    parts.join(" ")
}

/// The per-uid budgets (design.md §7), from the constants the daemon runs on.
fn limits_section(o: &mut String) {
    use crate::ondemand::gate::RATE_PER_SEC;
    use crate::ondemand::uid_budget::{UID_BURST, UID_RATE_PER_SEC};
    use crate::server::connection_table::{LOG_EVERY, MAX_CONNECTIONS, PER_UID, ROOT_RESERVE};
    use crate::server::listener::{LIMIT_NOFILE, TASKS_MAX};
    let _ = writeln!(o, ".SH LIMITS");
    let _ = writeln!(
        o,
        "At most {MAX_CONNECTIONS} connections are served at once, {ROOT_RESERVE} of them \
         kept for uid 0; a uid other than 0 holds at most {PER_UID} (the peer's uid comes \
         from SO_PEERCRED). Past its budget, a uid's own longest\\-held idle connection is \
         closed to make room; when the table is full, the idle connection held longest by \
         the heaviest user (one holding more than the newcomer) is closed; a connection is refused only when no idle one may be \
         closed. The NSS module reconnects transparently. On\\-demand SCIM requests are \
         limited to {RATE_PER_SEC} per second per node, and a uid other than 0 to \
         {UID_RATE_PER_SEC} per second (bursts of {UID_BURST}); past that, its misses are \
         answered TRYAGAIN (never \"not found\"), for that uid only. \\fBstatus\\fR counts \
         connections.refused_per_uid, connections.evicted_idle and ondemand.over_budget; \
         the log names the uid, one line per {} seconds at most. The service unit sets \
         LimitNOFILE={LIMIT_NOFILE} and TasksMax={TASKS_MAX} to match.",
        LOG_EVERY.as_secs()
    );
}

/// `workbench-cached(8)`: synopsis from [`USAGE`], commands, files, signals.
pub fn daemon_page() -> String {
    let mut o = String::new();
    header(&mut o, "workbench-cached", 8, "System Administration");
    let _ = writeln!(o, ".SH NAME");
    let _ = writeln!(
        o,
        "workbench\\-cached \\- local cache daemon for the workbench NSS module"
    );
    let _ = writeln!(o, ".SH SYNOPSIS");
    for (i, line) in synopsis_lines().iter().enumerate() {
        if i > 0 {
            let _ = writeln!(o, ".br");
        }
        let _ = writeln!(o, "\\fBworkbench\\-cached\\fR {}", synopsis_roff(line));
    }
    let _ = writeln!(o, ".SH DESCRIPTION");
    let _ = writeln!(
        o,
        "\\fBworkbench\\-cached\\fR makes the users and groups that Posit Workbench \
         provisions through its SCIM API visible as local accounts. It holds the API tokens, \
         copies Users and Groups, refuses hostile entries one by one, keeps the copy in \
         SQLite and in memory, and answers the glibc NSS module \\fBlibnss_workbench.so.2\\fR \
         (service name \\fBworkbench\\fR in \\fBnsswitch.conf\\fR(5)) over a Unix socket. \
         Lookups never wait on the network: a miss is fetched once with a SCIM filter, and \
         while the server is unreachable cached entries are served for up to max\\-stale."
    );
    let _ = writeln!(o, ".SH COMMANDS");
    for line in synopsis_lines() {
        let word = command_word(line);
        let Some((_, doc)) = COMMANDS.iter().find(|(c, _)| *c == word) else {
            continue;
        };
        let _ = writeln!(o, ".TP");
        let _ = writeln!(o, "\\fB{}\\fR", escape(word));
        let _ = writeln!(o, "{doc}");
    }
    let _ = writeln!(o, ".SH OPTIONS");
    for (opt, doc) in [
        (
            "\\fB\\-\\-config\\fR \\fIFILE\\fR",
            format!(
                "Read only \\fIFILE\\fR instead of {} and {}.",
                escape(WORKBENCH_CONFIG),
                escape(DAEMON_CONFIG)
            ),
        ),
        (
            "\\fB\\-\\-foreground\\fR",
            "Log to standard error instead of syslog.".to_string(),
        ),
        (
            "\\fB\\-\\-socket\\fR \\fIPATH\\fR",
            format!(
                "Talk to the daemon at \\fIPATH\\fR (default {}).",
                escape(
                    crate::config::keys::lookup(crate::config::keys::SOCKET_PATH)
                        .map_or("", |k| k.default_doc())
                )
            ),
        ),
        (
            "\\fB\\-\\-json\\fR",
            "Print \\fBstatus\\fR as one JSON object.".to_string(),
        ),
        (
            "\\fB\\-\\-version\\fR",
            "Print the version and exit.".to_string(),
        ),
    ] {
        let _ = writeln!(o, ".TP\n{opt}\n{doc}");
    }
    let _ = writeln!(o, ".SH SIGNALS");
    let _ = writeln!(
        o,
        ".TP\n\\fBSIGHUP\\fR\nReload the configuration and the tokens.\n.TP\n\\fBSIGTERM\\fR\n\
         Finish in\\-flight requests, close the cache cleanly and exit 0."
    );
    limits_section(&mut o);
    let _ = writeln!(o, ".SH FILES");
    let file_keys = [
        crate::config::keys::SOCKET_PATH,
        crate::config::keys::CACHE_PATH,
        crate::config::keys::USER_TOKEN_PATH,
        crate::config::keys::ADMIN_TOKEN_PATH,
    ];
    let _ = writeln!(
        o,
        ".TP\n\\fI{}\\fR\nConfiguration written by Workbench; see \\fBworkbench\\-nss.conf\\fR(5).",
        escape(WORKBENCH_CONFIG)
    );
    let _ = writeln!(
        o,
        ".TP\n\\fI{}\\fR\nLocal settings; override the file above.",
        escape(DAEMON_CONFIG)
    );
    for name in file_keys {
        if let Some(k) = crate::config::keys::lookup(name) {
            let _ = writeln!(
                o,
                ".TP\n\\fI{}\\fR\n{} (key {}).",
                escape(k.default_doc()),
                escape(&capitalise(k.doc)),
                escape(k.name)
            );
        }
    }
    let _ = writeln!(o, ".SH DIAGNOSTICS");
    let _ = writeln!(
        o,
        "glibc silently skips an NSS module it cannot load. \\fBgetent \\-s workbench passwd\\fR \
         \\fINAME\\fR asks only this module and must print a directory user. The daemon's \
         log: \\fBjournalctl \\-u workbench\\-cached\\fR."
    );
    let _ = writeln!(
        o,
        ".PP\nThe module asks only a listener whose \\fBSO_PEERCRED\\fR uid is 0, or, with \
         \\fBWORKBENCH_NSS_SOCKET\\fR set by a non\\-root, non\\-setuid caller, that caller's \
         own uid; any other listener gets nothing and the lookup fails with ENOENT as if no \
         daemon ran. Shadow requests are decided on the caller's credentials at the time of \
         the request: the module sends each on a fresh connection, and the daemon answers \
         shadow only as the first request of a connection and then closes it (refusals are \
         logged with the peer's pid, uid and gid and counted in \\fBstatus\\fR as \
         shadow_not_first)."
    );
    let _ = writeln!(o, ".SH SEE ALSO");
    let _ = writeln!(
        o,
        "\\fBworkbench\\-nss.conf\\fR(5), \\fBnsswitch.conf\\fR(5), \\fBgetent\\fR(1), \
         \\fBsystemctl\\fR(1), \\fBsystemd.socket\\fR(5)"
    );
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn man_dir() -> PathBuf {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../packaging/man"))
    }

    /// Compares a committed page with the rendered one; rewrites it with WB_UPDATE_MAN=1.
    fn check(file: &str, rendered: &str) {
        let path = man_dir().join(file);
        if std::env::var_os("WB_UPDATE_MAN").is_some() {
            std::fs::create_dir_all(man_dir()).unwrap();
            std::fs::write(&path, rendered).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == rendered,
            "{} is out of date with the code; regenerate it with \
             `WB_UPDATE_MAN=1 cargo test -p cached manpage` and commit it",
            path.display()
        );
    }

    #[test]
    fn manpage_config_page_is_current() {
        check(CONFIG_PAGE_FILE, &config_page());
    }

    #[test]
    fn manpage_daemon_page_is_current() {
        check(DAEMON_PAGE_FILE, &daemon_page());
    }

    #[test]
    fn manpage_lists_every_key_with_its_default() {
        let page = config_page();
        for k in KEYS {
            let entry = format!(
                "\\fB{}\\fR=\\fIvalue\\fR (default: {})",
                escape(k.name),
                escape(k.default_doc())
            );
            assert!(page.contains(&entry), "missing {entry}");
        }
    }

    #[test]
    fn manpage_describes_every_command_of_the_usage() {
        let words: Vec<&str> = synopsis_lines()
            .into_iter()
            .map(command_word)
            .filter(|w| !w.starts_with('-'))
            .collect();
        assert!(words.contains(&"serve"), "{words:?}");
        for w in &words {
            assert!(
                COMMANDS.iter().any(|(c, _)| c == w),
                "no description for {w}"
            );
        }
        for (c, _) in COMMANDS {
            assert!(words.contains(c), "{c} is described but not in USAGE");
        }
    }

    #[test]
    fn manpage_lists_every_refusal_reason() {
        let page = config_page();
        for reason in RefusalReason::ALL {
            let entry = format!(".TP\n\\fB{}\\fR\n", escape(reason.as_str()));
            assert!(page.contains(&entry), "missing {entry}");
        }
    }

    #[test]
    fn manpage_escapes_roff() {
        assert_eq!(escape("a-b\\c"), "a\\-b\\ec");
        assert_eq!(escape(".x"), "\\&.x");
        assert_eq!(escape("'x"), "\\&'x");
    }
}
