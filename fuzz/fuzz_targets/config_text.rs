//! The daemon's configuration parser (`config::parse`): the bytes of one `key=value`
//! file, exactly as `Config::load` interprets them once read.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

use cached::config::keys::KEYS;
use cached::config::Config;

fuzz_target!(|data: &[u8]| {
    match Config::parse_text(Path::new("/etc/rstudio/workbench-cached.conf"), data) {
        Ok(loaded) => {
            assert_eq!(loaded.settings.len(), KEYS.len(), "a key has no setting");
            let _ = loaded.config.server_address_text.len();
        }
        Err(e) => {
            // Every refusal renders as an operator message.
            assert!(!e.to_string().is_empty());
        }
    }
});
