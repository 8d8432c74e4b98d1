//! Command-line parsing (a handful of subcommands; no parser crate needed).

use std::path::PathBuf;

/// Default configuration file (the one Workbench generates on every node).
pub const DEFAULT_CONFIG_HINT: &str = "/etc/rstudio/workbench-nss.conf";

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Serve {
        config: Option<PathBuf>,
        foreground: bool,
    },
    Status {
        json: bool,
        socket: Option<PathBuf>,
    },
    Invalidate {
        target: InvalidateArg,
        socket: Option<PathBuf>,
    },
    Sync {
        socket: Option<PathBuf>,
    },
    Reload {
        config: Option<PathBuf>,
        socket: Option<PathBuf>,
    },
    CheckConfig {
        config: Option<PathBuf>,
    },
    Help,
    Version,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvalidateArg {
    User(String),
    Group(String),
    All,
}

pub const USAGE: &str = "\
usage: workbench-cached serve [--config FILE] [--foreground]
       workbench-cached status [--json] [--socket PATH]
       workbench-cached invalidate (user NAME | group NAME | --all) [--socket PATH]
       workbench-cached sync [--socket PATH]
       workbench-cached reload [--config FILE] [--socket PATH]
       workbench-cached check-config [--config FILE]
       workbench-cached --version";

/// Parses `args` (without the program name); the error is a message for stderr.
pub fn parse(args: &[String]) -> Result<Command, String> {
    let mut it = args.iter().map(String::as_str);
    let Some(cmd) = it.next() else {
        return Err("a command is required".into());
    };
    let rest: Vec<&str> = it.collect();
    let mut config = None;
    let mut socket = None;
    let mut foreground = false;
    let mut json = false;
    let mut all = false;
    let mut positional = Vec::new();
    let mut i = 0;
    while i < rest.len() {
        let a = rest.get(i).copied().unwrap_or_default();
        let value = |i: usize| {
            rest.get(i + 1)
                .map(|v| v.to_string())
                .ok_or_else(|| format!("{a} needs a value"))
        };
        match a {
            "--config" => {
                config = Some(PathBuf::from(value(i)?));
                i += 1;
            }
            "--socket" => {
                socket = Some(PathBuf::from(value(i)?));
                i += 1;
            }
            "--foreground" => foreground = true,
            "--json" => json = true,
            "--all" => all = true,
            s if s.starts_with("--config=") => config = Some(PathBuf::from(&s[9..])),
            s if s.starts_with("--socket=") => socket = Some(PathBuf::from(&s[9..])),
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            s => positional.push(s.to_string()),
        }
        i += 1;
    }
    let no_positional = |positional: &Vec<String>| {
        if positional.is_empty() {
            Ok(())
        } else {
            Err(format!("unexpected argument {}", positional.join(" ")))
        }
    };
    Ok(match cmd {
        "serve" => {
            no_positional(&positional)?;
            Command::Serve { config, foreground }
        }
        "status" => {
            no_positional(&positional)?;
            Command::Status { json, socket }
        }
        "sync" => {
            no_positional(&positional)?;
            Command::Sync { socket }
        }
        "reload" => {
            no_positional(&positional)?;
            Command::Reload { config, socket }
        }
        "check-config" => {
            no_positional(&positional)?;
            Command::CheckConfig { config }
        }
        "invalidate" => {
            let target = match (all, positional.as_slice()) {
                (true, []) => InvalidateArg::All,
                (false, [kind, name]) if kind == "user" => InvalidateArg::User(name.clone()),
                (false, [kind, name]) if kind == "group" => InvalidateArg::Group(name.clone()),
                _ => return Err("invalidate takes `user NAME`, `group NAME` or `--all`".into()),
            };
            Command::Invalidate { target, socket }
        }
        "help" | "--help" | "-h" => Command::Help,
        "--version" | "version" => Command::Version,
        other => return Err(format!("unknown command {other}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Command, String> {
        parse(&s.split_whitespace().map(String::from).collect::<Vec<_>>())
    }

    #[test]
    fn parses_reload() {
        assert_eq!(
            p("reload --config /c --socket /s").unwrap(),
            Command::Reload {
                config: Some("/c".into()),
                socket: Some("/s".into())
            }
        );
        assert_eq!(
            p("reload").unwrap(),
            Command::Reload {
                config: None,
                socket: None
            }
        );
        assert!(p("reload x").is_err());
    }

    #[test]
    fn parses_every_command() {
        assert_eq!(
            p("serve --config /x --foreground").unwrap(),
            Command::Serve {
                config: Some("/x".into()),
                foreground: true
            }
        );
        assert_eq!(
            p("status --json").unwrap(),
            Command::Status {
                json: true,
                socket: None
            }
        );
        assert_eq!(
            p("invalidate user alice --socket /s").unwrap(),
            Command::Invalidate {
                target: InvalidateArg::User("alice".into()),
                socket: Some("/s".into())
            }
        );
        assert_eq!(
            p("invalidate --all").unwrap(),
            Command::Invalidate {
                target: InvalidateArg::All,
                socket: None
            }
        );
        assert!(p("invalidate").is_err());
        assert!(p("status --bogus").is_err());
        assert!(p("frobnicate").is_err());
        assert!(p("serve --config").is_err());
    }
}
