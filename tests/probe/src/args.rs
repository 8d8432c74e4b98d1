//! Command-line parsing: positional arguments plus `--name value` options and flags.

use std::str::FromStr;

pub struct Args {
    pub pos: Vec<String>,
    opts: Vec<(String, Option<String>)>,
}

/// Splits `raw` into positionals and the options this subcommand accepts.
pub fn parse(raw: &[String], valued: &[&str], flags: &[&str]) -> Result<Args, String> {
    let mut pos = Vec::new();
    let mut opts = Vec::new();
    let mut it = raw.iter();
    while let Some(a) = it.next() {
        if let Some(name) = a.strip_prefix("--") {
            if let Some((n, v)) = name.split_once('=') {
                if !valued.contains(&n) {
                    return Err(format!("unknown option --{n}"));
                }
                opts.push((n.to_owned(), Some(v.to_owned())));
            } else if valued.contains(&name) {
                let v = it.next().ok_or_else(|| format!("--{name} needs a value"))?;
                opts.push((name.to_owned(), Some(v.clone())));
            } else if flags.contains(&name) {
                opts.push((name.to_owned(), None));
            } else {
                return Err(format!("unknown option --{name}"));
            }
        } else {
            pos.push(a.clone());
        }
    }
    Ok(Args { pos, opts })
}

impl Args {
    pub fn flag(&self, name: &str) -> bool {
        self.opts.iter().any(|(n, _)| n == name)
    }

    pub fn text(&self, name: &str) -> Option<&str> {
        self.opts
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.as_deref())
    }

    pub fn value<T: FromStr>(&self, name: &str, default: T) -> Result<T, String> {
        match self.text(name) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| format!("bad value for --{name}: {v:?}")),
        }
    }

    pub fn opt_value<T: FromStr>(&self, name: &str) -> Result<Option<T>, String> {
        self.text(name)
            .map(|v| {
                v.parse()
                    .map_err(|_| format!("bad value for --{name}: {v:?}"))
            })
            .transpose()
    }
}

/// Parses a positional number.
pub fn number<T: FromStr>(what: &str, v: &str) -> Result<T, String> {
    v.parse().map_err(|_| format!("bad {what}: {v:?}"))
}
