//! `workbench-cached`: see `cached::cli::args::USAGE`.

use std::process::ExitCode;

use cached::cli::args::{parse, Command, USAGE};
use cached::cli::commands;
use cached::daemon::run;

/// The NSS module looks this symbol up with `dlsym(RTLD_DEFAULT, …)`: when it is present,
/// the module is loaded inside the daemon and answers `UNAVAIL` at once instead of
/// calling the daemon from within itself (exported by `build.rs`).
#[no_mangle]
#[used]
pub static workbench_cached_recursion_guard: u8 = 1;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match parse(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("workbench-cached: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match command {
        Command::Serve { config, foreground } => run::serve(config, foreground),
        Command::Status { json, socket } => commands::status(json, socket),
        Command::Invalidate { target, socket } => commands::invalidate(target, socket),
        Command::Sync { socket } => commands::sync(socket),
        Command::Reload { config, socket } => commands::reload(config.as_deref(), socket),
        Command::CheckConfig { config } => commands::check_config(config.as_deref()),
        Command::Help => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Command::Version => {
            println!("workbench-cached {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
    }
}
