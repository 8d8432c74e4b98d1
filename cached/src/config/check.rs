//! What `workbench-cached check-config` prints (the CLI only wires it up).

use super::error::{ConfigError, MAX_QUOTED};
use super::keys::DefaultValue;
use super::parse::{Loaded, Origin};
use super::Config;
use crate::text::one_line::one_line;
use std::fmt::Write;
use std::path::Path;

/// The report for a configuration that loaded: the files read, every effective
/// `key=value` with where it came from, then the warnings.
pub fn render(loaded: &Loaded) -> String {
    let mut out = String::new();
    let files: Vec<String> = loaded
        .sources
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let _ = writeln!(out, "# files read: {}", files.join(", "));
    for s in &loaded.settings {
        let origin = match (&s.origin, s.key.default) {
            (Origin::Default, DefaultValue::Unset(meaning)) => format!("default ({meaning})"),
            (origin, _) => origin.to_string(),
        };
        let _ = writeln!(
            out,
            "{}={}  # {origin}",
            s.key.name,
            one_line(&s.text, MAX_QUOTED)
        );
    }
    for w in &loaded.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    let _ = writeln!(
        out,
        "configuration OK ({} warning{})",
        loaded.warnings.len(),
        if loaded.warnings.len() == 1 { "" } else { "s" }
    );
    out
}

/// The report for a configuration that was refused.
pub fn render_error(error: &ConfigError) -> String {
    format!("error: {error}\nconfiguration refused\n")
}

/// Loads the configuration as `serve` would and returns the text to print and whether
/// it is valid (the exit status is non-zero when it is not).
pub fn check_config(explicit: Option<&Path>) -> (String, bool) {
    match Config::load(explicit) {
        Ok(loaded) => (render(&loaded), true),
        Err(e) => (render_error(&e), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::keys::KEYS;
    use crate::config::parse::tests::TempDir;

    #[test]
    fn lists_every_key_with_its_origin_and_warnings() {
        let d = TempDir::new("check");
        let p = d.write(
            "c.conf",
            "server-address=https://wb.example.com\n# x\npage-size=42\nbogus=1\n",
        );
        let (text, ok) = check_config(Some(&p));
        assert!(ok);
        assert!(text.starts_with(&format!("# files read: {}\n", p.display())));
        for k in KEYS {
            assert!(
                text.contains(&format!("\n{}=", k.name)),
                "{} missing",
                k.name
            );
        }
        assert!(text.contains(&format!(
            "server-address=https://wb.example.com  # {}:1\n",
            p.display()
        )));
        assert!(text.contains(&format!("page-size=42  # {}:3\n", p.display())));
        assert!(text.contains("positive-ttl=300  # default\n"));
        assert!(text.contains("ca-file=  # default (system roots)\n"));
        assert!(text.contains(&format!(
            "warning: {}:4: unknown key 'bogus' (ignored)\n",
            p.display()
        )));
        assert!(text.ends_with("configuration OK (1 warning)\n"));
    }

    #[test]
    fn refused_configuration_is_not_ok() {
        let d = TempDir::new("check");
        let p = d.write("c.conf", "server-address=https://h\nmin-uid=0\n");
        let (text, ok) = check_config(Some(&p));
        assert!(!ok);
        assert!(text.starts_with(&format!("error: {}:2: key 'min-uid'", p.display())));
    }
}
