//! Talking to the running daemon over its socket, as the CLI does.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use workbench_wire::frame::{FrameHeader, FRAME_HEADER_LEN, MAX_RESPONSE_LEN};
use workbench_wire::{Request, Status};

use crate::server::peer::Peer;

/// Errors reaching the daemon, with the socket path.
#[derive(Debug)]
pub enum ClientError {
    Connect {
        path: String,
        source: std::io::Error,
    },
    Io {
        path: String,
        source: std::io::Error,
    },
    Protocol {
        path: String,
        detail: String,
    },
    /// The process listening on the socket is not who the request is for.
    UntrustedListener {
        path: String,
        detail: String,
    },
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Connect { path, source } => {
                write!(
                    f,
                    "cannot reach workbench-cached at {path}: {source} (is the daemon running?)"
                )
            }
            ClientError::Io { path, source } => {
                write!(f, "talking to workbench-cached at {path}: {source}")
            }
            ClientError::Protocol { path, detail } => {
                write!(f, "bad answer from workbench-cached at {path}: {detail}")
            }
            ClientError::UntrustedListener { path, detail } => {
                write!(f, "nothing sent to {path}: {detail}")
            }
        }
    }
}

impl std::error::Error for ClientError {}

/// Sends one request and returns the status and payload.
pub fn call(
    socket: &Path,
    request: &Request,
    timeout: Duration,
) -> Result<(Status, Vec<u8>), ClientError> {
    call_if(socket, request, timeout, |_| Ok(()))
}

/// As [`call`], but sends only if `listener_ok` accepts the listener's credentials
/// (`SO_PEERCRED` of a connected client socket names whoever called `listen()`).
pub fn call_if(
    socket: &Path,
    request: &Request,
    timeout: Duration,
    listener_ok: impl FnOnce(Option<Peer>) -> Result<(), String>,
) -> Result<(Status, Vec<u8>), ClientError> {
    let path = socket.display().to_string();
    let mut stream = UnixStream::connect(socket).map_err(|source| ClientError::Connect {
        path: path.clone(),
        source,
    })?;
    listener_ok(Peer::of(&stream)).map_err(|detail| ClientError::UntrustedListener {
        path: path.clone(),
        detail,
    })?;
    let io = |source| ClientError::Io {
        path: path.clone(),
        source,
    };
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    stream.write_all(&request.to_frame()).map_err(io)?;
    let mut header = [0u8; FRAME_HEADER_LEN];
    stream.read_exact(&mut header).map_err(io)?;
    let hdr = FrameHeader::parse(&header, MAX_RESPONSE_LEN).map_err(|e| ClientError::Protocol {
        path: path.clone(),
        detail: e.to_string(),
    })?;
    let status = Status::from_tag(hdr.tag).map_err(|e| ClientError::Protocol {
        path: path.clone(),
        detail: e.to_string(),
    })?;
    let mut payload = vec![0u8; hdr.len as usize];
    stream.read_exact(&mut payload).map_err(io)?;
    Ok((status, payload))
}
