//! Reading `key=value` files into a [`Config`] (design.md §3).
//!
//! Format: one `key=value` per line; whitespace around key and value is trimmed; blank
//! lines and lines whose first non-blank character is `#` are ignored. There are no
//! trailing comments: `#` inside a value is part of the value (paths may contain it), so
//! `positive-ttl=300 # five minutes` is refused with a clear message rather than half
//! understood.

use super::address::{check_resolved, HttpHost, NotLoopback};
use super::error::{ConfigError, MAX_QUOTED};
use super::keys::{self, DefaultValue, KeySpec, KEYS};
use super::trusted_file::{check_trusted_file, TrustRule};
use super::value::{parse_value, Value};
use super::{Config, ServerAddress};
use crate::text::one_line::one_line;
use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read};
use std::net::ToSocketAddrs;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The file Workbench generates on every node.
pub const WORKBENCH_CONFIG: &str = "/etc/rstudio/workbench-nss.conf";
/// Our own keys; read after [`WORKBENCH_CONFIG`] and overriding it. May be absent.
pub const DAEMON_CONFIG: &str = "/etc/rstudio/workbench-cached.conf";
/// A configuration file larger than this is refused (it is not a configuration file).
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// Where an effective value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The built-in default of [`keys::KEYS`].
    Default,
    /// A line of a configuration file (1-based).
    File { path: PathBuf, line: usize },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File { path, line } => write!(f, "{}:{line}", path.display()),
        }
    }
}

/// One key's effective value, as `check-config` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub key: &'static KeySpec,
    /// The value as written (empty for an unset optional key).
    pub text: String,
    pub origin: Origin,
}

/// A configuration that loaded, with everything `check-config` and the log need.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    /// Unknown keys, duplicate keys, an `http://` name that cannot be resolved now: worth
    /// a log line each.
    pub warnings: Vec<String>,
    /// The files actually read, in order.
    pub sources: Vec<PathBuf>,
    /// Every key of [`keys::KEYS`], in that order, with its effective value and origin.
    pub settings: Vec<Setting>,
}

impl Config {
    /// Loads the configuration: `explicit` alone when given (`--config F`; it must
    /// exist), else [`WORKBENCH_CONFIG`] then [`DAEMON_CONFIG`] (either may be absent; a
    /// missing `server-address` is then reported naming both).
    pub fn load(explicit: Option<&Path>) -> Result<Loaded, ConfigError> {
        match explicit {
            Some(path) => load_files(&[(path.to_path_buf(), true)]),
            None => load_files(&[
                (PathBuf::from(WORKBENCH_CONFIG), false),
                (PathBuf::from(DAEMON_CONFIG), false),
            ]),
        }
    }

    /// Loads `paths` in order, later files overriding earlier ones; absent files are
    /// skipped (as for the default pair).
    pub fn load_from_paths(paths: &[PathBuf]) -> Result<Loaded, ConfigError> {
        let list: Vec<_> = paths.iter().map(|p| (p.clone(), false)).collect();
        load_files(&list)
    }

    /// Builds a configuration from `key=value` pairs, as if they were the lines of a file
    /// named `(inline)`; for tests and tools.
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let text: String = pairs.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
        let mut c = Collector::default();
        c.apply(Path::new("(inline)"), text.as_bytes())?;
        c.finish().map(|l| l.config)
    }

    /// Parses the text of one configuration file named `path` (used only in messages)
    /// exactly as [`Config::load`] does once it has read the file; for the fuzz target
    /// `config_text` and tools.
    pub fn parse_text(path: &Path, bytes: &[u8]) -> Result<Loaded, ConfigError> {
        let mut c = Collector::default();
        c.sources.push(path.to_path_buf());
        c.apply(path, bytes)?;
        c.finish()
    }
}

fn load_files(files: &[(PathBuf, bool)]) -> Result<Loaded, ConfigError> {
    let mut c = Collector::default();
    for (path, required) in files {
        match read_file(path, *required)? {
            Some(bytes) => {
                c.sources.push(path.clone());
                c.apply(path, &bytes)?;
            }
            None => c.not_found.push(path.clone()),
        }
    }
    c.finish()
}

/// The file's bytes, or `None` when it does not exist and is not `required`.
fn read_file(path: &Path, required: bool) -> Result<Option<Vec<u8>>, ConfigError> {
    let io_err = |e: io::Error| ConfigError::Io {
        path: path.to_path_buf(),
        reason: if e.kind() == io::ErrorKind::PermissionDenied {
            // Under the packaged unit the daemon is not root: the usual cause.
            format!(
                "{e}; the daemon runs as uid {}, and a configuration file holds no secret \
                 (fix: chmod 644 {})",
                nix::unistd::geteuid(),
                path.display()
            )
        } else {
            e.to_string()
        },
    };
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound && !required => return Ok(None),
        Err(e) => return Err(io_err(e)),
    };
    let meta = file.metadata().map_err(io_err)?;
    if !meta.is_file() {
        return Err(ConfigError::Io {
            path: path.to_path_buf(),
            reason: "not a regular file".to_string(),
        });
    }
    // Whoever can write this file chooses the server the tokens go to.
    check_trusted_file(path, &meta, TrustRule::WrittenByRoot).map_err(|message| {
        ConfigError::InsecurePermissions {
            path: path.to_path_buf(),
            message,
        }
    })?;
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io_err)?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(ConfigError::Io {
            path: path.to_path_buf(),
            reason: format!("larger than {MAX_CONFIG_BYTES} bytes"),
        });
    }
    Ok(Some(bytes))
}

struct Entry {
    text: String,
    value: Value,
    origin: Origin,
}

#[derive(Default)]
struct Collector {
    values: HashMap<&'static str, Entry>,
    warnings: Vec<String>,
    sources: Vec<PathBuf>,
    not_found: Vec<PathBuf>,
}

impl Collector {
    fn apply(&mut self, path: &Path, bytes: &[u8]) -> Result<(), ConfigError> {
        let mut seen_here: HashMap<&'static str, usize> = HashMap::new();
        for (index, raw) in bytes.split(|&b| b == b'\n').enumerate() {
            let line = index + 1;
            let syntax = |reason: String| ConfigError::Syntax {
                path: path.to_path_buf(),
                line,
                reason,
            };
            let text = std::str::from_utf8(raw)
                .map_err(|_| syntax("the line is not valid UTF-8".to_string()))?;
            let text = text.trim();
            if text.is_empty() || text.starts_with('#') {
                continue;
            }
            let (key, value) = text.split_once('=').ok_or_else(|| {
                syntax(format!(
                    "expected key=value, got '{}' (comments must start the line with #)",
                    one_line(text, MAX_QUOTED)
                ))
            })?;
            let (key, value) = (key.trim(), value.trim());
            if key.is_empty() {
                return Err(syntax("expected key=value, the key is empty".to_string()));
            }
            let Some(spec) = keys::lookup(key) else {
                self.warnings.push(format!(
                    "{}:{line}: unknown key '{}' (ignored)",
                    path.display(),
                    one_line(key, MAX_QUOTED)
                ));
                continue;
            };
            let parsed = parse_value(spec.kind, value)
                .map_err(|reason| bad_value(path, line, spec, value, reason))?;
            if let Some(previous) = seen_here.insert(spec.name, line) {
                self.warnings.push(format!(
                    "{}:{line}: key '{}' is also set on line {previous}; the last one wins",
                    path.display(),
                    spec.name
                ));
            }
            self.values.insert(
                spec.name,
                Entry {
                    text: value.to_string(),
                    value: parsed,
                    origin: Origin::File {
                        path: path.to_path_buf(),
                        line,
                    },
                },
            );
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Loaded, ConfigError> {
        let mut settings = Vec::with_capacity(KEYS.len());
        for spec in KEYS {
            if !self.values.contains_key(spec.name) {
                let text = match spec.default {
                    DefaultValue::Required => {
                        return Err(ConfigError::MissingKey {
                            key: spec.name.to_string(),
                            read: self.sources,
                            not_found: self.not_found,
                        })
                    }
                    DefaultValue::Value(v) => v,
                    DefaultValue::Unset(_) => "",
                };
                let value = parse_value(spec.kind, text).map_err(|reason| {
                    bad_value(Path::new("(built-in default)"), 0, spec, text, reason)
                })?;
                self.values.insert(
                    spec.name,
                    Entry {
                        text: text.to_string(),
                        value,
                        origin: Origin::Default,
                    },
                );
            }
            if let Some(entry) = self.values.get(spec.name) {
                settings.push(Setting {
                    key: spec,
                    text: entry.text.clone(),
                    origin: entry.origin.clone(),
                });
            }
        }
        let config = self.build()?;
        Ok(Loaded {
            config,
            warnings: self.warnings,
            sources: self.sources,
            settings,
        })
    }

    fn get(&self, key: &str) -> Result<&Entry, ConfigError> {
        self.values
            .get(key)
            .ok_or_else(|| ConfigError::Internal(format!("no value for '{key}'")))
    }

    fn mismatch(key: &str) -> ConfigError {
        ConfigError::Internal(format!("key '{key}' has a value of the wrong kind"))
    }

    fn path(&self, key: &str) -> Result<PathBuf, ConfigError> {
        match &self.get(key)?.value {
            Value::Path(p) => Ok(p.clone()),
            _ => Err(Self::mismatch(key)),
        }
    }

    fn text(&self, key: &str) -> Result<String, ConfigError> {
        match &self.get(key)?.value {
            Value::Text(t) => Ok(t.clone()),
            _ => Err(Self::mismatch(key)),
        }
    }

    fn seconds(&self, key: &str) -> Result<Duration, ConfigError> {
        match self.get(key)?.value {
            Value::Seconds(s) => Ok(Duration::from_secs(s)),
            _ => Err(Self::mismatch(key)),
        }
    }

    fn number(&self, key: &str) -> Result<u32, ConfigError> {
        match self.get(key)?.value {
            Value::Number(n) => Ok(n),
            _ => Err(Self::mismatch(key)),
        }
    }

    fn bytes(&self, key: &str) -> Result<u64, ConfigError> {
        match self.get(key)?.value {
            Value::Bytes(n) => Ok(n),
            _ => Err(Self::mismatch(key)),
        }
    }

    fn flag(&self, key: &str) -> Result<bool, ConfigError> {
        match self.get(key)?.value {
            Value::Bool(b) => Ok(b),
            _ => Err(Self::mismatch(key)),
        }
    }

    fn list(&self, key: &str) -> Result<Vec<String>, ConfigError> {
        match &self.get(key)?.value {
            Value::List(l) => Ok(l.clone()),
            _ => Err(Self::mismatch(key)),
        }
    }

    fn ids(&self, key: &str) -> Result<Vec<u32>, ConfigError> {
        match &self.get(key)?.value {
            Value::Ids(l) => Ok(l.clone()),
            _ => Err(Self::mismatch(key)),
        }
    }

    fn build(&mut self) -> Result<Config, ConfigError> {
        let allow_insecure_http = self.flag(keys::ALLOW_INSECURE_HTTP)?;
        let address_entry = self.get(keys::SERVER_ADDRESS)?;
        let (path, line) = match &address_entry.origin {
            Origin::File { path, line } => (path.clone(), *line),
            Origin::Default => (PathBuf::from("(built-in default)"), 0),
        };
        let server_address: ServerAddress = match &address_entry.value {
            Value::Address(parsed) => parsed.address.clone(),
            _ => return Err(Self::mismatch(keys::SERVER_ADDRESS)),
        };
        let server_address_text = address_entry.text.clone();
        if let (ServerAddress::Http { host, .. }, false) = (&server_address, allow_insecure_http) {
            match host {
                HttpHost::LoopbackLiteral(_) => {}
                HttpHost::RemoteLiteral(ip) => {
                    return Err(ConfigError::InsecureHttp {
                        path,
                        line,
                        problem: NotLoopback {
                            host: ip.to_string(),
                            address: *ip,
                        },
                    })
                }
                // Resolved here so that check-config and a start refuse what the
                // transport would refuse at every connection; a name that cannot be
                // resolved now (DNS down at boot) must not stop the daemon serving its
                // cache, and the transport checks it again anyway.
                HttpHost::Name(name) => match (name.as_str(), 0u16).to_socket_addrs() {
                    Ok(resolved) => {
                        let resolved: Vec<_> = resolved.collect();
                        if let Err(problem) = check_resolved(name, &resolved) {
                            return Err(ConfigError::InsecureHttp {
                                path,
                                line,
                                problem,
                            });
                        }
                    }
                    Err(e) => self.warnings.push(format!(
                        "{}:{line}: key 'server-address': cannot resolve '{}' now ({e}); \
                         it is resolved at each connection and used only if every address \
                         is loopback",
                        path.display(),
                        one_line(name, MAX_QUOTED)
                    )),
                },
            }
        }
        let ca_file = match &self.get(keys::CA_FILE)?.value {
            Value::OptionalPath(p) => p.clone(),
            _ => return Err(Self::mismatch(keys::CA_FILE)),
        };
        let log_level = match self.get(keys::LOG_LEVEL)?.value {
            Value::Level(l) => l,
            _ => return Err(Self::mismatch(keys::LOG_LEVEL)),
        };
        Ok(Config {
            server_address,
            server_address_text,
            user_token_path: self.path(keys::USER_TOKEN_PATH)?,
            admin_token_path: self.path(keys::ADMIN_TOKEN_PATH)?,
            socket_path: self.path(keys::SOCKET_PATH)?,
            cache_path: self.path(keys::CACHE_PATH)?,
            ca_file,
            positive_ttl: self.seconds(keys::POSITIVE_TTL)?,
            negative_ttl: self.seconds(keys::NEGATIVE_TTL)?,
            max_stale: self.seconds(keys::MAX_STALE)?,
            sync_interval: self.seconds(keys::SYNC_INTERVAL)?,
            full_sync_interval: self.seconds(keys::FULL_SYNC_INTERVAL)?,
            request_timeout: self.seconds(keys::REQUEST_TIMEOUT)?,
            page_size: self.number(keys::PAGE_SIZE)?,
            min_uid: self.number(keys::MIN_UID)?,
            min_gid: self.number(keys::MIN_GID)?,
            default_shell: self.text(keys::DEFAULT_SHELL)?,
            home_root: self.text(keys::HOME_ROOT)?,
            home_must_be_under: self.list(keys::HOME_MUST_BE_UNDER)?,
            reserved_names: self.list(keys::RESERVED_NAMES)?.into_iter().collect(),
            local_primary_gids: self.ids(keys::LOCAL_PRIMARY_GIDS)?.into_iter().collect(),
            user_private_groups: self.flag(keys::USER_PRIVATE_GROUPS)?,
            enumerate: self.flag(keys::ENUMERATE)?,
            shadow_group: self.text(keys::SHADOW_GROUP)?,
            allow_insecure_http,
            log_level,
            sync_max_bytes: self.bytes(keys::SYNC_MAX_BYTES)?,
            sync_deadline: self.seconds(keys::SYNC_DEADLINE)?,
        })
    }
}

fn bad_value(
    path: &Path,
    line: usize,
    spec: &KeySpec,
    got: &str,
    reason: Option<String>,
) -> ConfigError {
    let mut expected = spec.kind.expected();
    if let Some(reason) = reason {
        // The "0 is refused" reason is already part of the expected text.
        if !expected.contains(&reason) {
            expected = format!("{expected} ({reason})");
        }
    }
    ConfigError::BadValue {
        path: path.to_path_buf(),
        line,
        key: spec.name.to_string(),
        expected,
        got: got.to_string(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A fresh, empty directory under the system temp dir, removed on drop.
    pub(crate) struct TempDir(pub PathBuf);

    impl TempDir {
        pub(crate) fn new(tag: &str) -> TempDir {
            static N: AtomicUsize = AtomicUsize::new(0);
            let dir = std::env::temp_dir().join(format!(
                "cached-test-{tag}-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::SeqCst)
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        pub(crate) fn write(&self, name: &str, text: &str) -> PathBuf {
            let p = self.0.join(name);
            std::fs::write(&p, text).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
            p
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn load_text(text: &str) -> Result<Loaded, ConfigError> {
        let d = TempDir::new("cfg");
        let p = d.write("a.conf", text);
        Config::load_from_paths(&[p])
    }

    #[test]
    fn defaults_fill_everything_but_the_address() {
        let l = load_text("server-address=https://wb.example.com\n").unwrap();
        let c = &l.config;
        assert_eq!(
            c.server_address,
            ServerAddress::Https {
                origin: "https://wb.example.com".into(),
                base_path: "/scim/v2".into()
            }
        );
        assert_eq!(c.server_address_text, "https://wb.example.com");
        assert_eq!(
            c.user_token_path,
            PathBuf::from("/etc/rstudio/nss-user-token")
        );
        assert_eq!(
            c.admin_token_path,
            PathBuf::from("/etc/rstudio/nss-admin-token")
        );
        assert_eq!(c.socket_path, PathBuf::from("/run/workbench-nss/socket"));
        assert_eq!(
            c.cache_path,
            PathBuf::from("/var/cache/workbench-nss/cache.db")
        );
        assert_eq!(c.ca_file, None);
        assert_eq!(c.positive_ttl, Duration::from_secs(300));
        assert_eq!(c.negative_ttl, Duration::from_secs(30));
        assert_eq!(c.max_stale, Duration::from_secs(604_800));
        assert_eq!(c.sync_interval, Duration::from_secs(600));
        assert_eq!(c.full_sync_interval, Duration::from_secs(86_400));
        assert_eq!(c.request_timeout, Duration::from_secs(5));
        assert_eq!(c.page_size, 500);
        assert_eq!((c.min_uid, c.min_gid), (1000, 1000));
        assert_eq!(c.default_shell, "/bin/bash");
        assert_eq!(c.home_root, "/home");
        assert!(c.home_must_be_under.is_empty() && c.local_primary_gids.is_empty());
        for name in [
            "root", "wheel", "sudo", "admin", "adm", "shadow", "staff", "docker",
        ] {
            assert!(c.reserved_names.contains(name), "{name}");
        }
        assert!(c.user_private_groups && c.enumerate && !c.allow_insecure_http);
        assert_eq!(c.shadow_group, "shadow");
        assert_eq!(c.log_level, log::LevelFilter::Info);
        assert!(l.warnings.is_empty());
        assert_eq!(l.settings.len(), KEYS.len());
    }

    #[test]
    fn every_key_can_be_set() {
        let l = load_text(
            "# Workbench generated\n\
             \n\
             server-address = unix:/run/rstudio/scim.sock\n\
             \tuser-token-path=/t/u \n\
             admin-token-path=/t/a\n\
             socket-path=/s\n\
             cache-path=/c.db\n\
             ca-file=/ca.pem\n\
             positive-ttl=1\n\
             negative-ttl=0\n\
             max-stale=31536000\n\
             sync-interval=60\n\
             full-sync-interval=3600\n\
             request-timeout=2\n\
             page-size=10000\n\
             sync-max-bytes=64M\n\
             sync-deadline=120\n\
             min-uid=500\n\
             min-gid=600\n\
             default-shell=/bin/zsh\n\
             home-root=/users/\n\
             home-must-be-under=/users, /srv/homes\n\
             reserved-names=sudo,wheel\n\
             local-primary-gids=100\n\
             user-private-groups=no\n\
             enumerate=false\n\
             shadow-group=wheel\n\
             allow-insecure-http=1\n\
             log-level=debug\r\n",
        )
        .unwrap();
        let c = &l.config;
        assert_eq!(
            c.server_address,
            ServerAddress::Unix {
                socket: "/run/rstudio/scim.sock".into(),
                base_path: "/scim/v2".into()
            }
        );
        assert_eq!(c.user_token_path, PathBuf::from("/t/u"));
        assert_eq!(c.ca_file, Some(PathBuf::from("/ca.pem")));
        assert_eq!(c.negative_ttl, Duration::ZERO);
        assert_eq!(c.page_size, 10_000);
        assert_eq!(c.sync_max_bytes, 64 << 20);
        assert_eq!(c.sync_deadline, Duration::from_secs(120));
        assert_eq!(c.full_sync_interval, Duration::from_secs(3600));
        assert_eq!((c.min_uid, c.min_gid), (500, 600));
        assert_eq!(c.home_root, "/users");
        assert_eq!(c.home_must_be_under, vec!["/users", "/srv/homes"]);
        assert_eq!(
            c.reserved_names.iter().collect::<Vec<_>>(),
            vec!["sudo", "wheel"]
        );
        assert_eq!(c.local_primary_gids.iter().collect::<Vec<_>>(), vec![&100]);
        assert!(!c.user_private_groups && !c.enumerate && c.allow_insecure_http);
        assert_eq!(c.log_level, log::LevelFilter::Debug);
        assert!(l.settings.iter().all(|s| s.origin != Origin::Default));
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    }

    #[test]
    fn bad_value_names_file_line_key_and_expectation() {
        let d = TempDir::new("cfg");
        let p = d.write(
            "w.conf",
            "server-address=https://h\n\n\n\n\n# c\npositive-ttl=abc\n",
        );
        let e = Config::load_from_paths(std::slice::from_ref(&p)).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "{}:7: key 'positive-ttl': expected a whole number of seconds \
                 (0..=31536000), got 'abc'",
                p.display()
            )
        );
    }

    #[test]
    fn min_ids_are_never_zero() {
        for key in ["min-uid", "min-gid"] {
            let e = load_text(&format!("server-address=https://h\n{key}=0\n")).unwrap_err();
            let msg = e.to_string();
            assert!(msg.contains(&format!(":2: key '{key}'")), "{msg}");
            assert!(msg.contains("must be at least 1"), "{msg}");
        }
    }

    #[test]
    fn more_bad_values() {
        for (line, want) in [
            ("page-size=0", "page-size"),
            ("page-size=10001", "page-size"),
            ("log-level=trace", "one of error, warn, info, debug"),
            ("enumerate=maybe", "0 or 1"),
            ("socket-path=run/socket", "an absolute path"),
            ("default-shell=/bin:sh", "':'"),
            ("request-timeout=0", "request-timeout"),
            ("sync-interval=31536001", "sync-interval"),
            ("ca-file=relative.pem", "ca-file"),
        ] {
            let e = load_text(&format!("server-address=https://h\n{line}\n")).unwrap_err();
            let msg = e.to_string();
            assert!(msg.contains(":2: key '"), "{msg}");
            assert!(msg.contains(want), "{line}: {msg}");
        }
    }

    #[test]
    fn lines_without_equals_are_refused_with_position() {
        let d = TempDir::new("cfg");
        let p = d.write("x.conf", "server-address=https://h\npositive-ttl 300\n");
        let e = Config::load_from_paths(std::slice::from_ref(&p)).unwrap_err();
        assert!(matches!(e, ConfigError::Syntax { line: 2, .. }), "{e}");
        assert!(e
            .to_string()
            .starts_with(&format!("{}:2: expected key=value", p.display())));
        let e = load_text("=x\nserver-address=https://h\n").unwrap_err();
        assert!(matches!(e, ConfigError::Syntax { line: 1, .. }), "{e}");
    }

    #[test]
    fn non_utf8_line_is_refused() {
        let d = TempDir::new("cfg");
        let p = d.0.join("b.conf");
        std::fs::write(&p, b"server-address=https://h\nhome-root=/h\xff\n").unwrap();
        let e = Config::load_from_paths(&[p]).unwrap_err();
        assert!(matches!(e, ConfigError::Syntax { line: 2, .. }), "{e}");
    }

    #[test]
    fn trailing_comment_is_part_of_the_value() {
        let e =
            load_text("server-address=https://h\npositive-ttl=300 # five minutes\n").unwrap_err();
        assert!(matches!(e, ConfigError::BadValue { line: 2, .. }), "{e}");
    }

    #[test]
    fn unknown_key_warns_with_position() {
        let d = TempDir::new("cfg");
        let p = d.write("u.conf", "server-address=https://h\nfrobnicate=1\n");
        let l = Config::load_from_paths(std::slice::from_ref(&p)).unwrap();
        assert_eq!(
            l.warnings,
            vec![format!(
                "{}:2: unknown key 'frobnicate' (ignored)",
                p.display()
            )]
        );
    }

    #[test]
    fn duplicate_in_one_file_last_wins_with_warning() {
        let l = load_text("server-address=https://h\npage-size=10\npage-size=20\n").unwrap();
        assert_eq!(l.config.page_size, 20);
        assert_eq!(l.warnings.len(), 1);
        assert!(l.warnings[0].contains(":3: key 'page-size' is also set on line 2"));
    }

    #[test]
    fn second_file_overrides_first_silently() {
        let d = TempDir::new("cfg");
        let a = d.write("nss.conf", "server-address=https://h\npage-size=10\n");
        let b = d.write("cached.conf", "page-size=20\n");
        let l = Config::load_from_paths(&[a.clone(), b.clone()]).unwrap();
        assert_eq!(l.config.page_size, 20);
        assert!(l.warnings.is_empty());
        assert_eq!(l.sources, vec![a.clone(), b.clone()]);
        let s = l
            .settings
            .iter()
            .find(|s| s.key.name == "page-size")
            .unwrap();
        assert_eq!(s.origin, Origin::File { path: b, line: 1 });
        let s = l
            .settings
            .iter()
            .find(|s| s.key.name == "server-address")
            .unwrap();
        assert_eq!(s.origin, Origin::File { path: a, line: 1 });
    }

    #[test]
    fn absent_second_file_is_fine_absent_both_names_the_key_and_files() {
        let d = TempDir::new("cfg");
        let a = d.write("nss.conf", "server-address=https://h\n");
        let missing = d.0.join("absent.conf");
        let l = Config::load_from_paths(&[a.clone(), missing.clone()]).unwrap();
        assert_eq!(l.sources, vec![a]);

        let other = d.0.join("absent2.conf");
        let e = Config::load_from_paths(&[missing.clone(), other.clone()]).unwrap_err();
        assert_eq!(
            e,
            ConfigError::MissingKey {
                key: "server-address".into(),
                read: vec![],
                not_found: vec![missing.clone(), other]
            }
        );
        assert!(e.to_string().contains("required key 'server-address'"));
    }

    #[test]
    fn explicit_config_must_exist_and_is_the_only_file() {
        let d = TempDir::new("cfg");
        let missing = d.0.join("nope.conf");
        let e = Config::load(Some(&missing)).unwrap_err();
        assert!(matches!(e, ConfigError::Io { .. }), "{e}");
        assert!(e.to_string().starts_with(&missing.display().to_string()));
        let p = d.write("only.conf", "server-address=https://h\n");
        let l = Config::load(Some(&p)).unwrap();
        assert_eq!(l.sources, vec![p]);
    }

    #[test]
    fn directory_and_huge_files_are_refused() {
        let d = TempDir::new("cfg");
        let e = Config::load(Some(&d.0)).unwrap_err();
        assert!(matches!(e, ConfigError::Io { .. }), "{e}");
        let big = format!("server-address=https://h\n{}", "#".repeat(2 * 1024 * 1024));
        let p = d.write("big.conf", &big);
        let e = Config::load(Some(&p)).unwrap_err();
        assert!(e.to_string().contains("larger than"), "{e}");
    }

    #[test]
    fn files_writable_by_others_or_not_owned_by_root_are_refused() {
        let d = TempDir::new("cfg");
        for (name, mode) in [("ww.conf", 0o666), ("gw.conf", 0o664), ("go.conf", 0o646)] {
            let p = d.write(name, "server-address=https://h\n");
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
            let e = Config::load(Some(&p)).unwrap_err();
            assert!(matches!(e, ConfigError::InsecurePermissions { .. }), "{e}");
            let pd = p.display();
            let msg = e.to_string();
            assert!(msg.contains(&format!("mode {mode:04o}")), "{msg}");
            assert!(
                msg.contains(&format!("chown root:root {pd} && chmod go-w {pd}")),
                "{msg}"
            );
            // The pair is checked file by file: the same file as the override is refused.
            let e = Config::load_from_paths(&[d.write("ok.conf", "server-address=https://h\n"), p])
                .unwrap_err();
            assert!(matches!(e, ConfigError::InsecurePermissions { .. }), "{e}");
        }
        for mode in [0o644, 0o640, 0o600, 0o444] {
            let p = d.write("fine.conf", "server-address=https://h\n");
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
            Config::load(Some(&p)).unwrap();
        }
        if nix::unistd::geteuid().is_root() {
            let p = d.write("nobody.conf", "server-address=https://h\n");
            std::os::unix::fs::chown(&p, Some(65534), None).unwrap();
            let msg = Config::load(Some(&p)).unwrap_err().to_string();
            assert!(msg.contains("owned by uid 65534"), "{msg}");
        }
    }

    #[test]
    fn insecure_http_refused_unless_allowed_in_any_file() {
        let e = load_text("server-address=http://192.0.2.10\n").unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, ConfigError::InsecureHttp { line: 1, .. }));
        assert!(
            msg.contains("in clear")
                && msg.contains("allow-insecure-http=1")
                && msg.contains("192.0.2.10 is not a loopback address"),
            "{msg}"
        );

        let d = TempDir::new("cfg");
        let a = d.write("nss.conf", "server-address=http://wb.example.com:8787\n");
        let b = d.write("cached.conf", "allow-insecure-http=yes\n");
        let l = Config::load_from_paths(&[a, b]).unwrap();
        assert_eq!(
            l.config.server_address,
            ServerAddress::Http {
                origin: "http://wb.example.com:8787".into(),
                base_path: "/scim/v2".into(),
                host: HttpHost::Name("wb.example.com".into()),
            }
        );
        let l = load_text("server-address=http://127.0.0.1:5559\n").unwrap();
        assert_eq!(
            l.config.server_address,
            ServerAddress::Http {
                origin: "http://127.0.0.1:5559".into(),
                base_path: "/scim/v2".into(),
                host: HttpHost::LoopbackLiteral("127.0.0.1".parse().unwrap()),
            }
        );
        // A name is resolved: `localhost` passes because it resolves to loopback only.
        let l = load_text("server-address=http://localhost:5559\n").unwrap();
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
        // A name that cannot be resolved now is accepted with a warning (the transport
        // checks every connection).
        let l = load_text("server-address=http://no-such-host.invalid\n").unwrap();
        assert!(
            l.warnings[0].contains("cannot resolve 'no-such-host.invalid'"),
            "{:?}",
            l.warnings
        );
    }

    #[test]
    fn bad_address_says_what_is_expected() {
        let e = load_text("server-address=wb.example.com\n").unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains(":1: key 'server-address': expected an address"),
            "{msg}"
        );
    }

    #[test]
    fn from_pairs_builds_a_config() {
        let c =
            Config::from_pairs(&[("server-address", "https://h/"), ("min-uid", "2000")]).unwrap();
        assert_eq!(c.min_uid, 2000);
        assert!(Config::from_pairs(&[]).is_err());
    }

    #[test]
    fn parse_text_reads_bytes_as_load_reads_the_file() {
        let text = "server-address=https://h\nmin-uid=2000\nfoo=1\n";
        let path = Path::new("/etc/x.conf");
        let parsed = Config::parse_text(path, text.as_bytes()).unwrap();
        let loaded = load_text(text).unwrap();
        assert_eq!(parsed.config.min_uid, loaded.config.min_uid);
        assert_eq!(parsed.settings.len(), loaded.settings.len());
        assert_eq!(parsed.sources, vec![path.to_path_buf()]);
        assert_eq!(
            parsed.warnings,
            vec!["/etc/x.conf:3: unknown key 'foo' (ignored)".to_string()]
        );
        let err = Config::parse_text(path, b"server-address=https://h\nmin-uid=x\n").unwrap_err();
        assert!(err.to_string().contains("/etc/x.conf:2"), "{err}");
    }
}
