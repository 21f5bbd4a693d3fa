//! One server to connect to, as `--host` names it (`HOST`, `HOST:PORT`,
//! `[IPV6]:PORT`), and as it is shown: `HOST:PORT`, which is also its key
//! in the known-hosts file. A leaf: the flags make these, connecting and
//! TLS read them.

use std::fmt;

/// One server to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAddr {
    /// Host name or address, resolved at connect time.
    pub host: String,
    pub port: u16,
}

/// `HOST:PORT`, with an IPv6 address in brackets; also the key of the
/// known-hosts file.
impl fmt::Display for ServerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl ServerAddr {
    /// Reads one `--host` entry: `HOST`, `HOST:PORT`, `[IPV6]:PORT` or a
    /// bare IPv6 address (more than one colon and no brackets: no port).
    pub fn parse(entry: &str, default_port: u16) -> Result<ServerAddr, String> {
        let entry = entry.trim();
        let bad_port =
            |text: &str| format!("invalid port '{text}' in '{entry}'; expected 1 to 65535");
        let parse_port = |text: &str| match text.parse::<u16>() {
            Ok(port) if port != 0 => Ok(port),
            _ => Err(bad_port(text)),
        };
        let (host, port) = if let Some(rest) = entry.strip_prefix('[') {
            let (host, after) = rest
                .split_once(']')
                .ok_or_else(|| format!("invalid host '{entry}': no closing ']'"))?;
            match after.strip_prefix(':') {
                Some(port) => (host, parse_port(port)?),
                None if after.is_empty() => (host, default_port),
                None => return Err(format!("invalid host '{entry}'")),
            }
        } else {
            match entry.split_once(':') {
                Some((host, port)) if !port.contains(':') => (host, parse_port(port)?),
                _ => (entry, default_port),
            }
        };
        if host.is_empty() {
            return Err(format!("invalid host '{entry}': the host is empty"));
        }
        Ok(ServerAddr {
            host: host.to_string(),
            port,
        })
    }
}
