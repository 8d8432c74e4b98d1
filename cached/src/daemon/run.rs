//! `workbench-cached serve`: start-up order, the signal loop and a clean shutdown.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::cache::store::{OpenOutcome, Store};
use crate::config::Config;
use crate::daemon::sync::Syncer;
use crate::daemon::{logging, map_thread, notify};
use crate::ondemand::state::OnDemand;
use crate::server::{activation, listener};
use crate::state::Shared;

/// How long SIGTERM waits for in-flight requests.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs the daemon until SIGTERM/SIGINT. Returns the process exit code.
/// Allocations at least this large get their own mapping (see `serve`).
const MMAP_THRESHOLD: libc::c_int = 256 * 1024;

pub fn serve(explicit_config: Option<PathBuf>, foreground: bool) -> ExitCode {
    // Tokens and hashes live in this process' memory: no core dumps, no ptrace by
    // non-root users.
    // SAFETY: prctl with PR_SET_DUMPABLE and an integer argument touches no memory.
    unsafe {
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
    // Every sync and every map build allocates and frees buffers of tens of MB. glibc
    // raises its mmap threshold to the largest such buffer freed, after which they come
    // from the heap and stay resident when freed: at 100,000 users that kept ~60 MiB of
    // anonymous memory after the second sync (`scripts/bench --scale`). A fixed
    // threshold keeps large buffers in their own mappings, returned when freed.
    // SAFETY: mallopt only sets an allocator parameter; no thread runs yet.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
    // Before any file is opened: fd 3 must still be what systemd passed.
    let passed = match activation::take() {
        Ok(p) => p,
        Err(e) => return activation_refused(&e),
    };
    let loaded = match Config::load(explicit_config.as_deref()) {
        Ok(l) => l,
        Err(e) => {
            // Before logging is set up: stderr reaches the journal under systemd.
            eprintln!("workbench-cached: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    logging::init(foreground, loaded.config.log_level);
    for w in &loaded.warnings {
        log::warn!("{w}");
    }
    let config = loaded.config;
    let (store, outcome) = match Store::open(&config.cache_path) {
        Ok(s) => s,
        Err(e) => {
            log::error!("{e}");
            eprintln!("workbench-cached: {e}");
            return ExitCode::from(1);
        }
    };
    match outcome {
        OpenOutcome::Rebuilt { moved_to, reason } => log::warn!(
            "cache {} was unreadable ({reason}); moved to {} and rebuilt",
            config.cache_path.display(),
            moved_to.display()
        ),
        OpenOutcome::Created => log::info!("cache {} created", config.cache_path.display()),
        OpenOutcome::Existing => {}
    }
    match listener::raise_fd_limit() {
        Ok(n) if n < listener::LIMIT_NOFILE => log::warn!(
            "open files limited to {n} (the daemon needs {}): fewer than {} connections \
             may be served at once",
            listener::LIMIT_NOFILE,
            listener::MAX_CONNECTIONS
        ),
        Ok(_) => {}
        Err(e) => log::warn!("cannot raise the open files limit: {e}"),
    }
    let socket_path = config.socket_path.clone();
    let from_systemd = passed.is_some();
    let listener = match passed {
        Some(l) => match activation::check_path(&l, &socket_path) {
            Ok(()) => {
                activation::warn_on_mode(&socket_path);
                l
            }
            Err(e) => return activation_refused(&e),
        },
        None => match listener::bind(&socket_path) {
            Ok(l) => l,
            Err(e) => {
                log::error!("{e}");
                eprintln!("workbench-cached: {e}");
                return ExitCode::from(1);
            }
        },
    };
    let signals = match Signals::new([SIGTERM, SIGINT, SIGHUP]) {
        Ok(s) => s,
        Err(e) => {
            log::error!("cannot install signal handlers: {e}");
            return ExitCode::from(1);
        }
    };
    let shared = Shared::new(config);
    let od = OnDemand::new(Arc::clone(&shared));
    let mut syncer = Syncer::new(Arc::clone(&od), store, explicit_config);
    let usable_cache = syncer.load_cached();

    let map_thread = match map_thread::spawn(Arc::clone(&od)) {
        Ok(t) => Some(t),
        Err(e) => {
            log::warn!("cannot start the fast-path thread: {e}; lookups use the socket");
            shared.fastpath.disable(&e.to_string());
            None
        }
    };
    let acceptor = thread::Builder::new()
        .name("accept".into())
        .spawn(move || listener::serve(listener, od));
    let acceptor = match acceptor {
        Ok(a) => a,
        Err(e) => {
            log::error!("cannot start the accept thread: {e}");
            return ExitCode::from(1);
        }
    };
    if from_systemd {
        log::info!(
            "listening on {} (socket passed by systemd)",
            socket_path.display()
        );
    } else {
        log::info!("listening on {}", socket_path.display());
    }

    // Without a usable cache, one attempt before READY=1 so that a node that boots with
    // the server up has its users by the time nss-user-lookup.target is reached. Bounded
    // by the first-sync deadline, so READY=1 comes within systemd's start timeout however
    // slow the server. With a usable cache (design.md §8) the node has its users
    // already: it is ready at once and syncs after a delay spread over a whole
    // sync-interval, so that a fleet rebooted together does not ask the server at once.
    let first = if usable_cache {
        let delay = syncer.first_delay_after_resume();
        log::info!("first sync in {} s", delay.as_secs());
        Some(delay)
    } else {
        let report = syncer.first_sync();
        // No CLI can have asked yet: the socket was not being served before this attempt.
        syncer.finish_attempt(report, 0);
        None
    };
    notify::notify("READY=1");

    let sync_thread = thread::Builder::new()
        .name("sync".into())
        .spawn(move || syncer.run(first));
    let sync_thread = match sync_thread {
        Ok(t) => t,
        Err(e) => {
            log::error!("cannot start the sync thread: {e}");
            return ExitCode::from(1);
        }
    };

    wait_for_signals(signals, &shared);

    notify::notify("STOPPING=1");
    // First: every process stops reading the map before anything else winds down.
    shared.fastpath.stop();
    shared.shutdown.store(true, Ordering::SeqCst);
    shared.request(|_| {});
    // Wake the blocking accept().
    let _ = UnixStream::connect(&socket_path);
    let live = acceptor.join().ok();
    drain(live.as_deref());
    if sync_thread.join().is_err() {
        log::error!("sync thread panicked");
    }
    if map_thread.is_some_and(|t| t.join().is_err()) {
        log::error!("fast-path thread panicked");
    }
    // A socket systemd bound is systemd's to remove (RemoveOnStop=): unlinking it here
    // would leave workbench-cached.socket listening on a path nobody can reach.
    if !from_systemd {
        remove_socket(&socket_path);
    }
    log::info!("stopped");
    ExitCode::SUCCESS
}

/// The unit and the configuration disagree about the socket: restarting cannot fix that,
/// so this is a configuration error (exit 2, which the unit does not restart).
fn activation_refused(e: &activation::ActivationError) -> ExitCode {
    log::error!("configuration error: {e}");
    eprintln!("workbench-cached: configuration error: {e}");
    ExitCode::from(2)
}

fn wait_for_signals(mut signals: Signals, shared: &Shared) {
    for signal in signals.forever() {
        match signal {
            SIGHUP => {
                log::info!("SIGHUP: reloading configuration and tokens");
                shared.request(|r| r.reload = true);
            }
            _ => {
                log::info!("signal {signal}: shutting down");
                return;
            }
        }
    }
}

/// Lets in-flight requests finish: connection threads notice the shutdown flag between
/// requests and end.
fn drain(live: Option<&std::sync::atomic::AtomicUsize>) {
    let Some(live) = live else { return };
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    while live.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
}

fn remove_socket(path: &Path) {
    if let Err(e) = std::fs::remove_file(path) {
        log::debug!("removing {}: {e}", path.display());
    }
}
