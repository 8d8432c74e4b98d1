//! Whether Workbench's own NSS module (`pwb`, `libnss_pwb.so.2`) answers beside ours,
//! read from `/etc/nsswitch.conf`, and what that means (issue 13; README "Running
//! beside Workbench's pwb module"). `status` and `check-config` print the same note,
//! and the package's postinst prints it once (through `check-config`).
//!
//! Pure: the file's text (or why it could not be read) and where `libnss_pwb.so.2` was
//! found go in, lines of text come out.

use std::path::{Path, PathBuf};

/// The file glibc reads.
pub const NSSWITCH_PATH: &str = "/etc/nsswitch.conf";
/// Workbench's module: service name and library.
pub const PWB_SERVICE: &str = "pwb";
pub const PWB_LIBRARY: &str = "libnss_pwb.so.2";
/// Our service name.
pub const OUR_SERVICE: &str = "workbench";
/// The databases both modules serve.
pub const DATABASES: [&str; 3] = ["passwd", "group", "shadow"];
/// Where distributions install NSS modules.
pub const LIBRARY_DIRS: [&str; 10] = [
    "/lib",
    "/lib64",
    "/usr/lib",
    "/usr/lib64",
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib/aarch64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/local/lib",
    "/opt/rstudio-pro/lib",
];

/// Every line starts with this, so a script (or the postinst) can pick the note out.
pub const NOTE_PREFIX: &str = "pwb: ";

/// One service of a database line, with the `[STATUS=action]` groups that follow it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub service: String,
    pub actions: Vec<String>,
}

impl Source {
    /// `service [A=b]`, as written.
    pub fn text(&self) -> String {
        let mut t = self.service.clone();
        for a in &self.actions {
            t.push_str(&format!(" [{a}]"));
        }
        t
    }

    /// Whether `NOTFOUND=return` (possibly among others, or negated as `!` … not)
    /// follows it: a miss here stops the lookup.
    fn stops_on_notfound(&self) -> bool {
        self.actions.iter().any(|group| {
            group.split_whitespace().any(|a| {
                let a = a.to_ascii_uppercase();
                a == "NOTFOUND=RETURN" || a == "!SUCCESS=RETURN"
            })
        })
    }
}

/// The sources of `database` in nsswitch.conf `text` (the last line for it wins, as in
/// glibc), or `None` when it has no line.
pub fn sources(text: &str, database: &str) -> Option<Vec<Source>> {
    let mut found = None;
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let Some((db, rest)) = line.split_once(':') else {
            continue;
        };
        if db.trim() != database {
            continue;
        }
        let mut list: Vec<Source> = Vec::new();
        let mut rest = rest.trim_start();
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('[') {
                let (group, tail) = after.split_once(']').unwrap_or((after, ""));
                if let Some(last) = list.last_mut() {
                    last.actions.push(group.trim().to_string());
                }
                rest = tail.trim_start();
            } else {
                let end = rest
                    .find(|c: char| c.is_whitespace() || c == '[')
                    .unwrap_or(rest.len());
                let (word, tail) = rest.split_at(end);
                list.push(Source {
                    service: word.to_string(),
                    actions: Vec::new(),
                });
                rest = tail.trim_start();
            }
        }
        found = Some(list);
    }
    found
}

/// Where `libnss_pwb.so.2` is installed, if in one of `dirs`.
pub fn pwb_library(dirs: &[&str]) -> Option<PathBuf> {
    dirs.iter()
        .map(|d| Path::new(d).join(PWB_LIBRARY))
        .find(|p| p.exists())
}

/// The note for nsswitch.conf (`read`: its text, or why it could not be read) and the
/// `libnss_pwb.so.2` found (if any). Empty when pwb is neither listed nor installed.
pub fn pwb_note(read: &Result<String, String>, library: Option<&Path>) -> Vec<String> {
    let mut out = Vec::new();
    let mut say = |s: String| out.push(format!("{NOTE_PREFIX}{s}"));
    let text = match read {
        Ok(t) => t,
        Err(why) => {
            say(format!(
                "cannot read {NSSWITCH_PATH} ({why}): cannot tell whether Workbench's own \
                 module (pwb) answers beside workbench; run as root, or check the file's \
                 permissions (it should be 0644)"
            ));
            return out;
        }
    };
    let listed: Vec<(&str, Vec<Source>)> = DATABASES
        .iter()
        .filter_map(|db| sources(text, db).map(|s| (*db, s)))
        .filter(|(_, s)| s.iter().any(|x| x.service == PWB_SERVICE))
        .collect();
    if listed.is_empty() {
        if let Some(lib) = library {
            say(format!(
                "{} is installed but {NSSWITCH_PATH} does not list pwb: Workbench re-adds \
                 it on upgrade; see README \"Running beside Workbench's pwb module\"",
                lib.display()
            ));
        }
        return out;
    }
    if let Some(lib) = library {
        say(format!(
            "Workbench's own module is installed: {}",
            lib.display()
        ));
    }
    for (db, list) in &listed {
        let line: Vec<String> = list.iter().map(Source::text).collect();
        say(format!("{db}: {}", line.join(" ")));
        let pos = |name: &str| list.iter().position(|s| s.service == name);
        let (Some(pwb), Some(ours)) = (pos(PWB_SERVICE), pos(OUR_SERVICE)) else {
            say(format!(
                "  {db}: pwb is listed and workbench is not: only pwb answers for directory \
                 users here"
            ));
            continue;
        };
        let (first, second, first_at) = if pwb < ours {
            ("pwb", "workbench", pwb)
        } else {
            ("workbench", "pwb", ours)
        };
        say(format!(
            "  {db}: {first} answers before {second}: for a user both know, {first}'s entry \
             wins"
        ));
        let stops = list.get(first_at).is_some_and(Source::stops_on_notfound);
        if stops {
            say(format!(
                "  {db}: {first} [NOTFOUND=return]: a name {first} does not know is \
                 reported missing without asking {second}"
            ));
        } else {
            say(format!(
                "  {db}: a name neither knows is asked of both (every miss costs two \
                 lookups)"
            ));
        }
    }
    say(
        "to retire pwb: take it out of passwd, group and shadow in /etc/nsswitch.conf once \
         every user resolves through workbench (README \"Running beside Workbench's pwb \
         module\")"
            .to_string(),
    );
    out
}

/// [`pwb_note`] for this node: reads [`NSSWITCH_PATH`] and looks for the library in
/// [`LIBRARY_DIRS`].
pub fn pwb_note_for_this_node() -> Vec<String> {
    let read = std::fs::read(NSSWITCH_PATH)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .map_err(|e| e.to_string());
    pwb_note(&read, pwb_library(&LIBRARY_DIRS).as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(text: &str) -> String {
        pwb_note(&Ok(text.to_string()), None).join("\n")
    }

    #[test]
    fn parses_services_and_actions() {
        let text = "# c\npasswd: files pwb [NOTFOUND=return] workbench # tail\n\
                    group:files [!UNAVAIL=return]workbench\npasswd:   files workbench pwb\n";
        let last = sources(text, "passwd").unwrap();
        let names: Vec<&str> = last.iter().map(|s| s.service.as_str()).collect();
        assert_eq!(names, ["files", "workbench", "pwb"], "the last line wins");
        let group = sources(text, "group").unwrap();
        assert_eq!(group[0].actions, ["!UNAVAIL=return"]);
        assert_eq!(group[1].service, "workbench");
        assert_eq!(sources(text, "shadow"), None);
        let with = sources("passwd: files pwb [NOTFOUND=return] workbench", "passwd").unwrap();
        assert_eq!(with[1].text(), "pwb [NOTFOUND=return]");
        assert!(with[1].stops_on_notfound());
    }

    #[test]
    fn says_nothing_without_pwb() {
        assert!(note("passwd: files workbench\ngroup: files workbench\n").is_empty());
    }

    #[test]
    fn says_who_wins_and_that_misses_are_asked_twice() {
        let n = note("passwd: files workbench pwb\ngroup: files pwb workbench\n");
        assert!(n.contains("passwd: workbench answers before pwb"), "{n}");
        assert!(
            n.contains(
                "group: pwb answers before workbench: for a user both know, pwb's entry wins"
            ),
            "{n}"
        );
        assert!(n.contains("every miss costs two lookups"), "{n}");
        assert!(n.contains("to retire pwb"), "{n}");
        assert!(n.lines().all(|l| l.starts_with(NOTE_PREFIX)));
    }

    #[test]
    fn notfound_return_after_the_first_is_explained() {
        let n = note("passwd: files pwb [NOTFOUND=return] workbench\n");
        assert!(
            n.contains("passwd: files pwb [NOTFOUND=return] workbench"),
            "{n}"
        );
        assert!(
            n.contains("pwb [NOTFOUND=return]: a name pwb does not know is reported missing without asking workbench"),
            "{n}"
        );
    }

    #[test]
    fn pwb_without_workbench_and_installed_but_unlisted() {
        let n = note("passwd: files pwb\n");
        assert!(n.contains("pwb is listed and workbench is not"), "{n}");
        let lib = Path::new("/usr/lib/libnss_pwb.so.2");
        let n = pwb_note(&Ok("passwd: files workbench\n".into()), Some(lib)).join("\n");
        assert!(
            n.contains("/usr/lib/libnss_pwb.so.2 is installed but"),
            "{n}"
        );
    }

    #[test]
    fn unreadable_file_is_a_clear_message() {
        let n = pwb_note(&Err("Permission denied (os error 13)".into()), None).join("\n");
        assert!(
            n.contains("cannot read /etc/nsswitch.conf (Permission denied"),
            "{n}"
        );
    }

    #[test]
    fn finds_the_library_in_a_directory() {
        let d = crate::config::parse::tests::TempDir::new("pwb");
        d.write(PWB_LIBRARY, "");
        let dir = d.0.display().to_string();
        assert_eq!(
            pwb_library(&["/nonexistent", &dir]),
            Some(d.0.join(PWB_LIBRARY))
        );
        assert_eq!(pwb_library(&["/nonexistent"]), None);
    }
}
