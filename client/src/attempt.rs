//! What a connect attempt ends with: a stream ready for its I/O thread, or
//! why there is none, sorted by whether trying again may help; and how long
//! an attempt may take. A leaf: connecting (`net`) and the TLS handshake
//! (`tls`) make these, the session reads them.

use std::fmt;
use std::io;
use std::time::Duration;

use chat_shared::Fingerprint;

use crate::transport::Stream;

/// How long to wait for the server to accept, and then for the TLS
/// handshake. A desk on the office LAN answers in milliseconds; ten seconds
/// covers a slow VPN without leaving the user staring at "Connecting..."
/// for the OS default of minutes.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a connect attempt failed.
#[derive(Debug)]
pub enum ConnectError {
    /// The server could not be reached, or the handshake broke off: trying
    /// again later, or another server, may work.
    Unreachable(io::Error),
    /// The server's certificate is not the one trusted (or not trusted at
    /// all): trying again would meet the same certificate. The whole text
    /// to show, which may span several lines.
    Untrusted(String),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::Unreachable(err) => write!(f, "{err}"),
            ConnectError::Untrusted(text) => f.write_str(text),
        }
    }
}

/// A connect attempt that worked.
#[derive(Debug)]
pub struct Connected {
    /// Ready for the connection's I/O thread (`net`).
    pub stream: Stream,
    /// With TLS pinned on first use: the certificate trusted (and written
    /// down) just now, because this server had none on record.
    pub first_trusted: Option<Fingerprint>,
}
