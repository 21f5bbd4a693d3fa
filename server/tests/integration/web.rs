//! The browser desk against the real server, over real sockets: the page
//! and its refusals over HTTP on the chat port, WebSocket desks chatting
//! with plain desks in two rooms (through tungstenite's client, an
//! implementation that is not ours), every rule a socket can break closed
//! with its code while the server carries on, and `wss://` with `--tls`.
//! What an idle browser desk costs is a figure of `chat-load hold --ws`,
//! not a test.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::common::tls::{fingerprint_of, pinning};
use crate::common::{config, server_process, start, Client, TIMEOUT};
use tungstenite::client::IntoClientRequest;
use tungstenite::{Message, WebSocket};

/// An HTTP answer: its status, its head, its body.
struct Answer {
    status: u16,
    head: String,
    body: Vec<u8>,
}

/// Sends `request` as it is and reads the answer until the server closes.
#[track_caller]
fn http(addr: SocketAddr, request: &[u8]) -> Answer {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream.write_all(request).expect("send the request");
    let mut bytes = Vec::new();
    let deadline = Instant::now() + TIMEOUT;
    let mut chunk = [0; 16 * 1024];
    loop {
        assert!(Instant::now() < deadline, "no end of the answer");
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
            Err(e) => panic!("reading the answer: {e}"),
        }
    }
    let split = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no head in {:?}", String::from_utf8_lossy(&bytes)));
    let head = String::from_utf8_lossy(&bytes[..split]).into_owned();
    let status = head[9..12].parse().expect("a status");
    Answer {
        status,
        head,
        body: bytes[split + 4..].to_vec(),
    }
}

fn get(addr: SocketAddr, path: &str) -> Answer {
    http(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes(),
    )
}

/// A browser desk through tungstenite's client, from a page of the server.
#[track_caller]
fn web_desk(addr: SocketAddr) -> WebSocket<TcpStream> {
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut request = format!("ws://{addr}/ws").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Origin", format!("http://{addr}").parse().unwrap());
    let (socket, response) = tungstenite::client(request, stream).expect("the upgrade");
    assert_eq!(response.status(), 101);
    socket
}

fn say<S: Read + Write>(socket: &mut WebSocket<S>, line: &str) {
    socket
        .send(Message::text(format!("{line}\n")))
        .expect("send a line");
}

/// Reads lines until one `wanted` accepts; returns it.
#[track_caller]
fn wait_for<S: Read + Write>(
    socket: &mut WebSocket<S>,
    what: &str,
    mut wanted: impl FnMut(&str) -> bool,
) -> String {
    let mut seen = Vec::new();
    loop {
        match socket.read() {
            Ok(Message::Text(text)) => {
                assert!(text.ends_with('\n'), "one whole line a message: {text:?}");
                for line in text.lines() {
                    if wanted(line) {
                        return line.to_string();
                    }
                    seen.push(line.to_string());
                }
            }
            Ok(other) => panic!("expected text, got {other:?}"),
            Err(e) => panic!("waiting for {what}: {e}; seen {seen:?}"),
        }
    }
}

#[test]
fn the_page_its_assets_and_refusals_over_http() {
    let server = start(config());
    let addr = server.addr();

    let page = get(addr, "/");
    assert_eq!(page.status, 200, "{}", page.head);
    assert!(page.head.contains("Content-Type: text/html; charset=utf-8"));
    assert!(page
        .head
        .contains("Content-Security-Policy: default-src 'none'; script-src 'self';"));
    assert!(page.head.contains("Connection: close"));
    let html = String::from_utf8(page.body).unwrap();
    assert!(html.contains(r#"<script src="/app.js" defer></script>"#));
    assert!(!html.contains("<script>"), "no inline script");

    let script = get(addr, "/app.js");
    assert!(script.head.contains("Content-Type: text/javascript"));
    assert!(String::from_utf8_lossy(&script.body).contains("new WebSocket("));
    let desk = get(addr, "/desk.json");
    assert!(String::from_utf8_lossy(&desk.body).contains(r##""blue":"#005fd7""##));
    assert_eq!(get(addr, "/style.css").status, 200);
    assert_eq!(get(addr, "/icon.svg").status, 200);

    assert_eq!(get(addr, "/etc/passwd").status, 404);
    let post = http(
        addr,
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(post.status, 405);
    assert!(post.head.contains("Allow: GET, HEAD"));
    let malformed = http(addr, b"GET / HTTP/1.1\r\nthis is no header\r\n\r\n");
    assert_eq!(malformed.status, 400);
    let huge = format!(
        "GET / HTTP/1.1\r\nX-A: {0}\r\nX-B: {0}\r\n\r\n",
        "a".repeat(5000)
    );
    assert_eq!(http(addr, huge.as_bytes()).status, 431);
    let many: String = (0..100).map(|i| format!("X-{i}: 1\r\n")).collect();
    let many = format!("GET / HTTP/1.1\r\n{many}\r\n");
    assert_eq!(http(addr, many.as_bytes()).status, 431);
    let not_a_socket = http(addr, b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(not_a_socket.status, 400);

    // None of that touched the room: a desk chats as ever.
    let mut alice = Client::connect(addr);
    alice.join("alice");
    alice.say("alice", "still here");
}

#[test]
fn a_request_that_never_ends_is_closed_at_the_login_timeout() {
    let server = start(chat_server::Config {
        login_timeout: Duration::from_secs(1),
        ..config()
    });
    let mut slow = TcpStream::connect(server.addr()).unwrap();
    slow.set_read_timeout(Some(TIMEOUT)).unwrap();
    let started = Instant::now();
    // The start of a head, and never its end.
    slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: a")
        .unwrap();
    let mut byte = [0; 1];
    let read = match slow.read(&mut byte) {
        Ok(n) => n,
        Err(e) if e.kind() == ErrorKind::ConnectionReset => 0,
        Err(e) => panic!("expected the server to close, got {e}"),
    };
    assert_eq!(read, 0, "nothing is answered to an unfinished head");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(5),
        "closed after {took:?}"
    );
}

#[test]
fn web_desks_and_plain_desks_chat_in_two_rooms() {
    let server = start(config());
    let addr = server.addr();
    let mut bob = Client::connect(addr);
    bob.join("bob");
    bob.say("bob", "before the web desk came");

    let mut web = web_desk(addr);
    // History on arrival, as any desk of ours gets it.
    wait_for(&mut web, "the history", |line| {
        line.starts_with("HIST<SEP>") && line.ends_with("<SEP>before the web desk came")
    });
    say(&mut web, "/join webby");
    wait_for(&mut web, "the welcome", |line| {
        line.starts_with("WELCOME<SEP>webby<SEP>")
    });
    say(&mut web, "/tx t1 webby<SEP>hello from a browser");
    wait_for(&mut web, "SENT", |line| {
        line.starts_with("SENT<SEP>t1<SEP>")
    });
    wait_for(&mut web, "its own copy", |line| {
        line.starts_with("MSG<SEP>")
            && line.contains("<SEP>webby<SEP>")
            && line.ends_with("<SEP>hello from a browser")
    });
    bob.expect_msg("webby", "hello from a browser");

    // A second room, both ways.
    say(&mut web, "/room join #dev");
    wait_for(&mut web, "INROOM", |line| {
        line.starts_with("INROOM<SEP>#dev<SEP>")
    });
    bob.send_line("/room join #dev");
    bob.wait_for("INROOM", |line| line.starts_with("INROOM<SEP>#dev<SEP>"));
    wait_for(&mut web, "bob entering", |line| {
        line.starts_with("ENTER<SEP>#dev<SEP>") && line.contains("<SEP>bob<SEP>")
    });
    bob.send_line("/to #dev builds are green");
    wait_for(&mut web, "bob in #dev", |line| {
        line.starts_with("RMSG<SEP>#dev<SEP>") && line.ends_with("<SEP>builds are green")
    });
    say(&mut web, "/tx t2 /to #dev thanks bob");
    bob.wait_for("webby in #dev", |line| {
        line.starts_with("RMSG<SEP>#dev<SEP>")
            && line.contains("<SEP>webby<SEP>")
            && line.ends_with("<SEP>thanks bob")
    });

    // A direct message, and its reader's copy.
    bob.send_line("/msg webby lunch?");
    wait_for(&mut web, "the direct message", |line| {
        line.starts_with("DM<SEP>")
            && line.contains("<SEP>bob<SEP>")
            && line.ends_with("<SEP>webby<SEP>lunch?")
    });

    web.close(None).expect("close");
    // The close is answered, and webby leaves the room.
    loop {
        match web.read() {
            Ok(_) => {}
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(e) => panic!("closing: {e}"),
        }
    }
    bob.wait_for("webby leaving", |line| {
        crate::common::is_leave(line, "webby")
    });
}

#[test]
fn a_socket_opened_by_another_site_is_refused() {
    let server = start(config());
    let addr = server.addr();
    let handshake = |origin: &str| {
        format!(
            "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             Origin: {origin}\r\n\r\n"
        )
    };
    let hijack = http(addr, handshake("http://evil.example").as_bytes());
    assert_eq!(hijack.status, 403);
    let other_port = format!("http://{}:{}", addr.ip(), addr.port() + 1);
    assert_eq!(http(addr, handshake(&other_port).as_bytes()).status, 403);
    let old = handshake(&format!("http://{addr}")).replace("Version: 13", "Version: 8");
    let old = http(addr, old.as_bytes());
    assert_eq!(old.status, 426);
    assert!(old.head.contains("Sec-WebSocket-Version: 13"));
}

/// A WebSocket written by hand, for frames no well-behaved client sends.
struct RawSocket {
    stream: TcpStream,
    received: Vec<u8>,
}

impl RawSocket {
    /// Opens a socket and waits for its upgrade.
    #[track_caller]
    fn open(addr: SocketAddr) -> RawSocket {
        let mut socket = RawSocket::start(addr);
        socket.upgraded();
        socket
    }

    /// Connects and sends the handshake, without waiting for its answer.
    #[track_caller]
    fn start(addr: SocketAddr) -> RawSocket {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        let request = format!(
            "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).unwrap();
        RawSocket {
            stream,
            received: Vec::new(),
        }
    }

    /// Waits for the answer to the handshake: the upgrade.
    #[track_caller]
    fn upgraded(&mut self) {
        let head = self.take_until(b"\r\n\r\n");
        assert!(head.starts_with(b"HTTP/1.1 101 "), "{head:?}");
    }

    fn take_until(&mut self, end: &[u8]) -> Vec<u8> {
        loop {
            if let Some(at) = self.received.windows(end.len()).position(|w| w == end) {
                return self.received.drain(..at + end.len()).collect();
            }
            self.fill();
        }
    }

    fn fill(&mut self) {
        let mut chunk = [0; 4096];
        match self.stream.read(&mut chunk) {
            Ok(0) => panic!("closed; left {:?}", self.received),
            Ok(n) => self.received.extend_from_slice(&chunk[..n]),
            Err(e) => panic!("reading: {e}"),
        }
    }

    /// Sends one frame: `first` is FIN and the opcode.
    fn frame(&mut self, first: u8, payload: &[u8], masked: bool) {
        let mut bytes = vec![first];
        let mask_bit = if masked { 0x80 } else { 0 };
        match payload.len() {
            n if n < 126 => bytes.push(mask_bit | n as u8),
            n if n < 65536 => {
                bytes.push(mask_bit | 126);
                bytes.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                bytes.push(mask_bit | 127);
                bytes.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        let mask = [7, 11, 13, 17];
        if masked {
            bytes.extend_from_slice(&mask);
            bytes.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
        } else {
            bytes.extend_from_slice(payload);
        }
        // The server may close before taking all of a refused frame.
        let _ = self.stream.write_all(&bytes);
    }

    /// The next frame from the server: its first byte and payload.
    fn next_frame(&mut self) -> (u8, Vec<u8>) {
        while self.received.len() < 2 {
            self.fill();
        }
        assert_eq!(self.received[1] & 0x80, 0, "a server's frames are unmasked");
        let (len, start) = match self.received[1] {
            126 => {
                while self.received.len() < 4 {
                    self.fill();
                }
                (
                    usize::from(u16::from_be_bytes([self.received[2], self.received[3]])),
                    4,
                )
            }
            n => (usize::from(n), 2),
        };
        while self.received.len() < start + len {
            self.fill();
        }
        let frame: Vec<u8> = self.received.drain(..start + len).collect();
        (frame[0], frame[start..].to_vec())
    }

    /// Reads frames until a close; returns its status code.
    #[track_caller]
    fn close_code(&mut self) -> u16 {
        loop {
            let (first, payload) = self.next_frame();
            if first == 0x88 {
                return u16::from_be_bytes([payload[0], payload[1]]);
            }
        }
    }

    /// Reads text until `wanted`.
    #[track_caller]
    fn wait_for_text(&mut self, wanted: &str) {
        loop {
            let (first, payload) = self.next_frame();
            assert_eq!(first, 0x81, "our lines come as final text frames");
            if String::from_utf8_lossy(&payload).contains(wanted) {
                return;
            }
        }
    }
}

/// Sends what breaks one of the socket's rules.
type BreakRule = fn(&mut RawSocket);

#[test]
fn every_rule_a_socket_breaks_closes_it_with_its_code_and_the_server_carries_on() {
    let server = start(config());
    let addr = server.addr();

    let mut ping = RawSocket::open(addr);
    ping.frame(0x89, b"are you there", true);
    assert_eq!(
        ping.next_frame(),
        (0x8a, b"are you there".to_vec()),
        "its pong"
    );
    // A line in two fragments, a ping between them.
    ping.frame(0x01, b"/pi", true);
    ping.frame(0x89, b"", true);
    ping.frame(0x80, b"ng\n", true);
    assert_eq!(ping.next_frame(), (0x8a, Vec::new()));
    ping.wait_for_text("PONG\n");

    let cases: [(&str, BreakRule, u16); 6] = [
        (
            "text that is not UTF-8",
            |s| s.frame(0x81, b"\xff\xfe/who\n", true),
            1007,
        ),
        (
            "a message longer than a line",
            |s| s.frame(0x81, &[b'a'; 5000], true),
            1009,
        ),
        ("a binary frame", |s| s.frame(0x82, b"01", true), 1003),
        (
            "an unmasked frame",
            |s| s.frame(0x81, b"/who\n", false),
            1002,
        ),
        (
            "a control frame over 125 bytes",
            |s| s.frame(0x89, &[b'p'; 126], true),
            1002,
        ),
        (
            "a ping flood",
            |s| {
                for _ in 0..=chat_server::web::CONTROL_FRAMES_PER_SECOND {
                    s.frame(0x89, b"", true);
                }
            },
            1008,
        ),
    ];
    for (what, break_it, code) in cases {
        let mut socket = RawSocket::open(addr);
        break_it(&mut socket);
        assert_eq!(socket.close_code(), code, "{what}");
    }

    // A line over the line limit but within a message is refused as a
    // plain desk's would be, and the desk stays.
    let mut long = RawSocket::open(addr);
    let mut line = vec![b'x'; 4097];
    line.push(b'\n');
    long.frame(0x81, &line[..4098], true);
    long.wait_for_text("ERR<SEP>line-too-long<SEP>");
    long.frame(0x81, b"/ping\n", true);
    long.wait_for_text("PONG\n");

    let mut alice = Client::connect(addr);
    alice.join("alice");
    alice.say("alice", "the server carries on");
}

#[test]
fn with_tls_the_page_is_https_and_the_desk_wss() {
    let server = server_process(&["--tls"]);
    let tls = pinning(fingerprint_of(&server));
    let connect = || {
        let stream = TcpStream::connect(server.addr()).unwrap();
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let connection = rustls::ClientConnection::new(tls.clone(), name).unwrap();
        rustls::StreamOwned::new(connection, stream)
    };

    let mut page = connect();
    page.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = page.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.contains("<script src=\"/app.js\" defer></script>"));

    let port = server.addr().port();
    let mut request = format!("wss://localhost:{port}/ws")
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "Origin",
        format!("https://localhost:{port}").parse().unwrap(),
    );
    let (mut web, _) = tungstenite::client(request, connect()).expect("the upgrade over TLS");
    say(&mut web, "/join secure");
    wait_for(&mut web, "the welcome", |line| {
        line.starts_with("WELCOME<SEP>secure<SEP>")
    });
    let mut plain = Client::connect(server.addr());
    plain.join("plain");
    plain.say("plain", "hello over tcp");
    wait_for(&mut web, "the plain desk", |line| {
        line.starts_with("MSG<SEP>")
            && line.contains("<SEP>plain<SEP>")
            && line.ends_with("<SEP>hello over tcp")
    });
}
