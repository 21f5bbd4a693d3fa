//! One HTTP request on the chat port: its head, read line by line and
//! bounded ([`Request`]), parsed by httparse once whole, and what it gets
//! ([`Reply`]): the page, an asset, the WebSocket upgrade, or a refusal.
//!
//! Every request is answered once and its connection closed
//! (`Connection: close`): a browser opens a desk in a handful of requests,
//! and a connection that stays is a WebSocket.

use chat_shared::Line;
use tungstenite::handshake::derive_accept_key;

use super::page;

/// Most bytes in a request's head: the request line and every header.
pub const MAX_HEAD_BYTES: usize = 8 * 1024;

/// Most header fields in a request. A browser sends about fifteen.
pub const MAX_HEADERS: usize = 40;

/// Where a browser desk's WebSocket is upgraded.
pub const SOCKET_PATH: &str = "/ws";

/// The security headers on every answer: scripts and styles from this
/// server only, no inline script, nothing framed, nothing sniffed.
const SECURITY_HEADERS: &str = "Content-Security-Policy: default-src 'none'; script-src 'self'; \
     style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'\r\n\
     X-Content-Type-Options: nosniff\r\n\
     Referrer-Policy: no-referrer\r\n\
     Cache-Control: no-cache\r\n";

/// Whether `line`, the first a peer sent, is an HTTP request line:
/// `METHOD TARGET HTTP/1.x`. No line of our protocol looks like one (a
/// message has `<SEP>`, a command starts with `/`).
pub fn is_request_line(line: &[u8]) -> bool {
    let mut words = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        return false;
    };
    !method.is_empty()
        && method.iter().all(u8::is_ascii_uppercase)
        && !target.is_empty()
        && matches!(version, b"HTTP/1.1" | b"HTTP/1.0")
}

/// The head of a request, as it arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The lines so far, each ended with `\r\n`, for httparse.
    head: Vec<u8>,
    /// The server's `--max-line`, which the page is told.
    max_line_bytes: usize,
}

/// What a request gets.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    /// This answer (the page, an asset, a refusal), then the connection
    /// closes. `status` is for the log.
    Answer {
        /// The HTTP status.
        status: u16,
        /// The whole response.
        bytes: Vec<u8>,
    },
    /// `101 Switching Protocols`: from the next byte on, the connection
    /// is a WebSocket.
    Upgrade(Vec<u8>),
}

impl Request {
    /// A request about to be read, on a server whose lines are at most
    /// `max_line_bytes` long.
    pub fn new(max_line_bytes: usize) -> Request {
        Request {
            head: Vec::new(),
            max_line_bytes,
        }
    }

    /// Takes one line of the head, without its line end. Returns the reply
    /// once the head is whole (its empty line), or over a limit.
    pub fn line(&mut self, line: Line<'_>) -> Option<Reply> {
        let Line::Complete(line) = line else {
            return Some(refusal(431, "Request Header Fields Too Large"));
        };
        if line.is_empty() && !self.head.is_empty() {
            self.head.extend_from_slice(b"\r\n");
            return Some(self.reply());
        }
        if self.head.len() + line.len() + 2 > MAX_HEAD_BYTES {
            return Some(refusal(431, "Request Header Fields Too Large"));
        }
        self.head.extend_from_slice(line);
        self.head.extend_from_slice(b"\r\n");
        None
    }

    /// The reply to the whole head.
    fn reply(&self) -> Reply {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(&self.head) {
            Ok(httparse::Status::Complete(_)) => {}
            Err(httparse::Error::TooManyHeaders) => {
                return refusal(431, "Request Header Fields Too Large")
            }
            Ok(httparse::Status::Partial) | Err(_) => return refusal(400, "Bad Request"),
        }
        let (Some(method), Some(target)) = (request.method, request.path) else {
            return refusal(400, "Bad Request");
        };
        let path = target.split_once('?').map_or(target, |(path, _)| path);
        let head_only = match method {
            "GET" => false,
            "HEAD" => true,
            _ => return refusal(405, "Method Not Allowed"),
        };
        if path == SOCKET_PATH && !head_only {
            return upgrade(request.headers);
        }
        match page::asset(path, self.max_line_bytes) {
            Some(asset) => answer(200, "OK", asset.content_type, &asset.body, head_only, ""),
            None => refusal(404, "Not Found"),
        }
    }
}

/// The value of header `name` (names are case-insensitive), if present
/// once and readable.
fn header<'a>(headers: &[httparse::Header<'a>], name: &str) -> Option<&'a str> {
    let mut found = headers
        .iter()
        .filter(|header| header.name.eq_ignore_ascii_case(name));
    let first = found.next()?;
    if found.next().is_some() {
        return None;
    }
    std::str::from_utf8(first.value).ok().map(str::trim)
}

/// Whether a comma-separated header value lists `token`.
fn lists(value: Option<&str>, token: &str) -> bool {
    value.is_some_and(|value| {
        value
            .split(',')
            .any(|item| item.trim().eq_ignore_ascii_case(token))
    })
}

/// The answer to `GET /ws`: the upgrade, when the request is a WebSocket
/// handshake (RFC 6455, section 4.2.1) from a page of this server.
fn upgrade(headers: &[httparse::Header<'_>]) -> Reply {
    if !lists(header(headers, "Upgrade"), "websocket")
        || !lists(header(headers, "Connection"), "upgrade")
    {
        return refusal(400, "Bad Request");
    }
    if header(headers, "Sec-WebSocket-Version") != Some("13") {
        return answer(
            426,
            "Upgrade Required",
            "text/plain; charset=utf-8",
            b"WebSocket version 13 only\n",
            false,
            "Sec-WebSocket-Version: 13\r\n",
        );
    }
    let Some(key) = header(headers, "Sec-WebSocket-Key").filter(|key| is_socket_key(key)) else {
        return refusal(400, "Bad Request");
    };
    let Some(host) = header(headers, "Host") else {
        return refusal(400, "Bad Request");
    };
    // A browser always says which page opens the socket: only this
    // server's own may (no cross-site WebSocket hijacking). A client that
    // says nothing is no browser, and could speak our lines over TCP.
    if let Some(origin) = header(headers, "Origin") {
        if !same_origin(origin, host) {
            return refusal(403, "Forbidden");
        }
    }
    let accept = derive_accept_key(key.as_bytes());
    Reply::Upgrade(
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {accept}\r\n\r\n"
        )
        .into_bytes(),
    )
}

/// Whether `key` has the shape RFC 6455 gives `Sec-WebSocket-Key`: 16
/// bytes in base64, 24 characters ending in `==`.
fn is_socket_key(key: &str) -> bool {
    let bytes = key.as_bytes();
    bytes.len() == 24
        && bytes.ends_with(b"==")
        && bytes[..22]
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// Whether the page at `origin` (`scheme://host[:port]`) is served by the
/// server the request names in `Host`: the same host and port, a scheme's
/// default port left out as browsers leave it out of `Host`.
pub fn same_origin(origin: &str, host: &str) -> bool {
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" => ":80",
        "https" => ":443",
        _ => return false,
    };
    let authority = authority.strip_suffix(default_port).unwrap_or(authority);
    let host = host.strip_suffix(default_port).unwrap_or(host);
    authority.eq_ignore_ascii_case(host)
}

/// A refusal: `status`, its reason phrase, and the phrase as the body.
fn refusal(status: u16, reason: &str) -> Reply {
    let body = format!("{status} {reason}\n");
    answer(
        status,
        reason,
        "text/plain; charset=utf-8",
        body.as_bytes(),
        false,
        if status == 405 {
            "Allow: GET, HEAD\r\n"
        } else {
            ""
        },
    )
}

/// A whole response, closing the connection after it.
fn answer(
    status: u16,
    reason: &str,
    content_type: &str,
    body: &[u8],
    head_only: bool,
    extra_headers: &str,
) -> Reply {
    let mut bytes = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         {SECURITY_HEADERS}{extra_headers}Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        bytes.extend_from_slice(body);
    }
    Reply::Answer { status, bytes }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply_to(head: &str) -> Reply {
        let mut request = Request::new(4096);
        for line in head.split("\r\n") {
            if let Some(reply) = request.line(Line::Complete(line.as_bytes())) {
                return reply;
            }
        }
        panic!("no reply to {head:?}");
    }

    fn status_of(reply: &Reply) -> u16 {
        match reply {
            Reply::Answer { status, .. } => *status,
            Reply::Upgrade(_) => 101,
        }
    }

    fn text(reply: &Reply) -> String {
        match reply {
            Reply::Answer { bytes, .. } | Reply::Upgrade(bytes) => {
                String::from_utf8_lossy(bytes).into_owned()
            }
        }
    }

    const HANDSHAKE: &str = "GET /ws HTTP/1.1\r\nHost: office:5002\r\nUpgrade: websocket\r\n\
        Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Sec-WebSocket-Version: 13\r\nOrigin: http://office:5002\r\n\r\n";

    #[test]
    fn request_lines_are_told_from_ours() {
        assert!(is_request_line(b"GET / HTTP/1.1"));
        assert!(is_request_line(b"POST /x?y HTTP/1.0"));
        for line in [
            "alice<SEP>GET / HTTP/1.1",
            "/join GET",
            "get / HTTP/1.1",
            "GET /  HTTP/1.1",
            "GET / HTTP/2",
            "NICK alice",
            "",
        ] {
            assert!(!is_request_line(line.as_bytes()), "{line:?}");
        }
    }

    #[test]
    fn the_page_and_its_assets_are_served_with_their_policy() {
        let page = reply_to("GET / HTTP/1.1\r\nHost: office:5002\r\n\r\n");
        assert_eq!(status_of(&page), 200);
        let page = text(&page);
        assert!(
            page.contains("Content-Type: text/html; charset=utf-8"),
            "{page}"
        );
        assert!(page.contains("script-src 'self';"), "{page}");
        assert!(page.contains("Connection: close"), "{page}");
        assert!(page.ends_with("</html>\n"), "{page}");
        for asset in ["/app.js", "/style.css", "/desk.json", "/?x=1"] {
            let reply = reply_to(&format!("GET {asset} HTTP/1.1\r\nHost: h\r\n\r\n"));
            assert_eq!(status_of(&reply), 200, "{asset}");
        }
        let head = reply_to("HEAD /app.js HTTP/1.1\r\nHost: h\r\n\r\n");
        assert!(text(&head).ends_with("\r\n\r\n"));
    }

    #[test]
    fn anything_else_is_refused_with_its_status() {
        let cases = [
            ("GET /nothing HTTP/1.1\r\nHost: h\r\n\r\n", 404),
            ("POST / HTTP/1.1\r\nHost: h\r\n\r\n", 405),
            ("GET / HTTP/1.1\r\nno colon here\r\n\r\n", 400),
            ("GET /ws HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        ];
        for (head, status) in cases {
            assert_eq!(status_of(&reply_to(head)), status, "{head}");
        }
    }

    #[test]
    fn a_head_over_the_limits_is_refused() {
        let mut request = Request::new(4096);
        assert_eq!(request.line(Line::Complete(b"GET / HTTP/1.1")), None);
        let big = format!("X-Big: {}", "a".repeat(5000));
        assert_eq!(request.line(Line::Complete(big.as_bytes())), None);
        let reply = request.line(Line::Complete(big.as_bytes())).unwrap();
        assert_eq!(status_of(&reply), 431);
        assert_eq!(
            status_of(&Request::new(4096).line(Line::TooLong).unwrap()),
            431
        );
        let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: 1\r\n")).collect();
        let reply = reply_to(&format!("GET / HTTP/1.1\r\n{many}\r\n"));
        assert_eq!(status_of(&reply), 431);
    }

    #[test]
    fn the_upgrade_answers_with_the_accept_key() {
        let reply = reply_to(HANDSHAKE);
        assert_eq!(status_of(&reply), 101);
        // RFC 6455's own example.
        assert!(text(&reply).contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
    }

    #[test]
    fn a_socket_from_another_site_is_refused() {
        let other = HANDSHAKE.replace("Origin: http://office:5002", "Origin: http://evil.test");
        assert_eq!(status_of(&reply_to(&other)), 403);
        let no_origin = HANDSHAKE.replace("Origin: http://office:5002\r\n", "");
        assert_eq!(status_of(&reply_to(&no_origin)), 101);
        let old = HANDSHAKE.replace("Version: 13", "Version: 8");
        assert_eq!(status_of(&reply_to(&old)), 426);
        let bad_key = HANDSHAKE.replace("dGhlIHNhbXBsZSBub25jZQ==", "short");
        assert_eq!(status_of(&reply_to(&bad_key)), 400);
    }

    #[test]
    fn origins_match_their_host() {
        assert!(same_origin("http://office:5002", "office:5002"));
        assert!(same_origin("https://Office.example", "office.example"));
        assert!(same_origin("https://office.example:443", "office.example"));
        assert!(same_origin("http://[::1]:5002", "[::1]:5002"));
        assert!(!same_origin("http://office:5003", "office:5002"));
        assert!(!same_origin("http://evil.test", "office:5002"));
        assert!(!same_origin("null", "office:5002"));
        assert!(!same_origin("file://office:5002", "office:5002"));
    }
}
