//! Logging to syslog (the service) or stderr (`--foreground`).

use std::io::Write;

use log::{LevelFilter, Log, Metadata, Record};

/// Libraries' debug output (HTTP and TLS internals) is noise at `debug`; only their
/// warnings and errors reach our log.
const QUIET_TARGETS: &[&str] = &["ureq", "rustls", "webpki"];

fn wanted(metadata: &Metadata<'_>) -> bool {
    if metadata.level() > log::max_level() {
        return false;
    }
    let quiet = QUIET_TARGETS
        .iter()
        .any(|t| metadata.target().starts_with(t));
    !quiet || metadata.level() <= log::Level::Warn
}

struct StderrLogger;

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        wanted(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        if self.enabled(record.metadata()) {
            let _ = writeln!(
                std::io::stderr().lock(),
                "workbench-cached[{}]: {}: {}",
                std::process::id(),
                record.level().as_str().to_ascii_lowercase(),
                record.args()
            );
        }
    }

    fn flush(&self) {}
}

/// Applies [`wanted`] in front of the syslog logger.
struct Filtered<L>(L);

impl<L: Log> Log for Filtered<L> {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        wanted(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        if wanted(record.metadata()) {
            self.0.log(record);
        }
    }

    fn flush(&self) {
        self.0.flush();
    }
}

static STDERR_LOGGER: StderrLogger = StderrLogger;

/// Installs the logger once; later calls only change the level.
pub fn init(foreground: bool, level: LevelFilter) {
    let installed = if foreground {
        log::set_logger(&STDERR_LOGGER).is_ok()
    } else {
        let formatter = syslog::Formatter3164 {
            facility: syslog::Facility::LOG_DAEMON,
            hostname: None,
            process: "workbench-cached".into(),
            pid: std::process::id(),
        };
        match syslog::unix(formatter) {
            Ok(logger) => {
                log::set_boxed_logger(Box::new(Filtered(syslog::BasicLogger::new(logger)))).is_ok()
            }
            // No syslog socket (containers): stderr still reaches the journal.
            Err(_) => log::set_logger(&STDERR_LOGGER).is_ok(),
        }
    };
    let _ = installed;
    log::set_max_level(level);
}

/// Changes the level after a configuration reload.
pub fn set_level(level: LevelFilter) {
    log::set_max_level(level);
}
