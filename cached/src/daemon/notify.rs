//! `sd_notify(READY=1)` without libsystemd: one datagram to `$NOTIFY_SOCKET`.

use std::os::unix::net::UnixDatagram;

/// Environment variable systemd (or a test harness) sets for `Type=notify` services.
pub const NOTIFY_SOCKET_ENV: &str = "NOTIFY_SOCKET";

/// Sends `state` (e.g. `READY=1`) if `$NOTIFY_SOCKET` is set; errors are logged only.
pub fn notify(state: &str) {
    let Some(path) = std::env::var_os(NOTIFY_SOCKET_ENV) else {
        return;
    };
    let Ok(sock) = UnixDatagram::unbound() else {
        log::warn!("sd_notify: cannot create a datagram socket");
        return;
    };
    let bytes = path.as_encoded_bytes();
    let sent = if let Some(abstract_name) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        std::os::unix::net::SocketAddr::from_abstract_name(abstract_name)
            .and_then(|addr| sock.send_to_addr(state.as_bytes(), &addr))
    } else {
        sock.send_to(state.as_bytes(), &path)
    };
    if let Err(e) = sent {
        log::warn!("sd_notify {state}: {e}");
    }
}
