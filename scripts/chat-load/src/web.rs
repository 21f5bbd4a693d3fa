//! `--ws`: a load desk that is a browser desk: `GET /ws` upgraded to a
//! WebSocket on the chat port, then lines of our protocol, each in a
//! masked text frame, as the page sends them; the server's frames carry
//! its lines.
//!
//! The protocol is tungstenite's, not ours: its client handshake writes
//! the request (with a fresh `Sec-WebSocket-Key`) and checks the answer
//! (101, `Upgrade`, `Connection`, `Sec-WebSocket-Accept`), and its socket
//! masks what we send, reassembles what we are sent and answers pings.
//! tungstenite wants a stream to read and write; [`Pipe`] is that stream
//! over the engine's buffers, so the socket itself (plain or TLS) stays
//! the engine's (`conn.rs`) and is never blocked on.

use std::io::{self, Read, Write};
use std::net::SocketAddr;

use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::client::ClientHandshake;
use tungstenite::handshake::{HandshakeError, MidHandshake};
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Error, Message, WebSocket};

/// Where the server upgrades a browser desk's request.
const SOCKET_PATH: &str = "/ws";

/// tungstenite's read buffer: the most it takes from the pipe at once. Its
/// default is 128 KiB a socket, which 10,000 desks would pay for nothing.
const READ_BUFFER_BYTES: usize = 4096;

/// One browser desk's WebSocket, from its request on.
#[derive(Debug)]
pub struct WebDesk {
    /// The handshake, then the socket; `None` only while moving from one
    /// to the other, or once the handshake failed.
    state: Option<State>,
    /// Lines queued before the upgrade, sent as frames once it is done.
    held: Vec<Vec<u8>>,
}

/// Both boxed: a handshake and a socket are a few hundred bytes each.
#[derive(Debug)]
enum State {
    Upgrading(Box<MidHandshake<ClientHandshake<Pipe>>>),
    Open(Box<WebSocket<Pipe>>),
}

impl WebDesk {
    /// Starts the upgrade of a connection to the server at `addr`; its
    /// request waits in the desk for [`WebDesk::take_output`].
    pub fn start(addr: SocketAddr) -> Result<WebDesk, String> {
        let url = format!("ws://{addr}{SOCKET_PATH}");
        let request = url
            .into_client_request()
            .map_err(|err| format!("ws request: {err}"))?;
        let config = WebSocketConfig::default()
            .read_buffer_size(READ_BUFFER_BYTES)
            .write_buffer_size(0);
        let mid = ClientHandshake::start(Pipe::default(), request, Some(config))
            .map_err(|err| format!("ws request: {err}"))?;
        let mut desk = WebDesk {
            state: None,
            held: Vec::new(),
        };
        // Writes the request into the pipe, then finds nothing to read.
        desk.handshake(mid)?;
        Ok(desk)
    }

    /// Whether the server has answered the upgrade.
    pub fn is_open(&self) -> bool {
        matches!(self.state, Some(State::Open(_)))
    }

    /// Sends `line` (with its line end) as one text frame, or holds it
    /// until the upgrade is done.
    pub fn send(&mut self, line: &[u8]) -> Result<(), String> {
        let Some(State::Open(socket)) = &mut self.state else {
            self.held.push(line.to_vec());
            return Ok(());
        };
        let text = String::from_utf8(line.to_vec()).map_err(|_| "ws: a line is not UTF-8")?;
        socket
            .send(Message::text(text))
            .map_err(|err| format!("ws: {err}"))
    }

    /// Takes bytes read from the socket: the answer to the upgrade, then
    /// frames, whose text goes to `on_text` message by message. `Err` says
    /// why the socket is over.
    pub fn feed(&mut self, bytes: &[u8], mut on_text: impl FnMut(&[u8])) -> Result<(), String> {
        match self.state.take() {
            Some(State::Upgrading(mut mid)) => {
                mid.get_mut().get_mut().input.extend_from_slice(bytes);
                self.handshake(*mid)?;
                if self.is_open() {
                    for line in std::mem::take(&mut self.held) {
                        self.send(&line)?;
                    }
                    // Frames that came with the answer.
                    return self.feed(&[], on_text);
                }
                Ok(())
            }
            Some(State::Open(mut socket)) => {
                socket.get_mut().input.extend_from_slice(bytes);
                let read = read_messages(&mut socket, &mut on_text);
                self.state = Some(State::Open(socket));
                read
            }
            None => Err("ws: the upgrade failed".into()),
        }
    }

    /// Moves what tungstenite wrote (the request, frames, pongs) to `out`.
    pub fn take_output(&mut self, out: &mut Vec<u8>) {
        let pipe = match &mut self.state {
            Some(State::Upgrading(mid)) => mid.get_mut().get_mut(),
            Some(State::Open(socket)) => socket.get_mut(),
            None => return,
        };
        out.append(&mut pipe.output);
    }

    /// One more step of the handshake, with what the pipe holds.
    fn handshake(&mut self, mid: MidHandshake<ClientHandshake<Pipe>>) -> Result<(), String> {
        match mid.handshake() {
            Ok((socket, _answer)) => {
                self.state = Some(State::Open(Box::new(socket)));
                Ok(())
            }
            Err(HandshakeError::Interrupted(mid)) => {
                self.state = Some(State::Upgrading(Box::new(mid)));
                Ok(())
            }
            Err(HandshakeError::Failure(err)) => Err(format!("ws upgrade: {err}")),
        }
    }
}

/// Reads every whole message the pipe holds; text goes to `on_text`,
/// pings are answered (on the next write, which is made here).
fn read_messages(
    socket: &mut WebSocket<Pipe>,
    on_text: &mut impl FnMut(&[u8]),
) -> Result<(), String> {
    loop {
        match socket.read() {
            Ok(Message::Text(text)) => on_text(text.as_bytes()),
            Ok(Message::Close(frame)) => {
                return Err(match frame {
                    Some(frame) => format!("ws close {}: {}", u16::from(frame.code), frame.reason),
                    None => "ws close".into(),
                })
            }
            Ok(_) => {}
            Err(Error::Io(err)) if err.kind() == io::ErrorKind::WouldBlock => break,
            Err(err) => return Err(format!("ws: {err}")),
        }
    }
    match socket.flush() {
        Ok(()) => Ok(()),
        Err(Error::Io(err)) if err.kind() == io::ErrorKind::WouldBlock => Ok(()),
        Err(err) => Err(format!("ws: {err}")),
    }
}

/// The stream tungstenite reads and writes: bytes the engine read and not
/// yet taken (then `WouldBlock`), and bytes written for the engine to send.
#[derive(Debug, Default)]
pub struct Pipe {
    input: Vec<u8>,
    output: Vec<u8>,
}

impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.input.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(self.input.len());
        buf[..n].copy_from_slice(&self.input[..n]);
        self.input.drain(..n);
        Ok(n)
    }
}

impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tungstenite::handshake::derive_accept_key;
    use tungstenite::protocol::Role;

    /// The request the desk wrote, and the server's answer to it.
    fn answer_to(request: &[u8]) -> Vec<u8> {
        let request = std::str::from_utf8(request).unwrap();
        assert!(request.starts_with("GET /ws HTTP/1.1\r\n"), "{request}");
        let key = request
            .lines()
            .find_map(|line| line.strip_prefix("Sec-WebSocket-Key: "))
            .expect("a key");
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\n\r\n",
            derive_accept_key(key.as_bytes())
        )
        .into_bytes()
    }

    /// The server's side of the socket, for the tests: reads what the desk
    /// wrote, and writes unmasked frames.
    fn server_side(bytes: Vec<u8>) -> WebSocket<Pipe> {
        let pipe = Pipe {
            input: bytes,
            output: Vec::new(),
        };
        WebSocket::from_raw_socket(pipe, Role::Server, None)
    }

    fn upgraded() -> (WebDesk, Vec<u8>) {
        let addr: SocketAddr = "127.0.0.1:5002".parse().unwrap();
        let mut desk = WebDesk::start(addr).unwrap();
        let mut request = Vec::new();
        desk.take_output(&mut request);
        assert!(!desk.is_open());
        (desk, request)
    }

    #[test]
    fn lines_before_the_upgrade_wait_and_go_out_masked_after_it() {
        let (mut desk, request) = upgraded();
        desk.send(b"/join load-1\n").unwrap();
        let mut nothing = Vec::new();
        desk.take_output(&mut nothing);
        assert!(
            nothing.is_empty(),
            "nothing but the request before the answer"
        );
        // The answer and a first frame in one read.
        let mut from_server = answer_to(&request);
        let mut server = server_side(Vec::new());
        server.send(Message::text("PONG\n")).unwrap();
        from_server.append(&mut server.get_mut().output);
        let mut texts = Vec::new();
        desk.feed(&from_server, |text| texts.push(text.to_vec()))
            .unwrap();
        assert!(desk.is_open());
        assert_eq!(texts, [b"PONG\n".to_vec()]);
        desk.send(b"load-1<SEP>hi\n").unwrap();
        let mut sent = Vec::new();
        desk.take_output(&mut sent);
        // Masked: the payload is not there in clear.
        assert_eq!(sent[0], 0x81);
        assert_ne!(sent[1] & 0x80, 0, "a client's frame is masked");
        let mut server = server_side(sent);
        assert_eq!(server.read().unwrap(), Message::text("/join load-1\n"));
        assert_eq!(server.read().unwrap(), Message::text("load-1<SEP>hi\n"));
    }

    #[test]
    fn frames_split_across_reads_are_whole_messages() {
        let (mut desk, request) = upgraded();
        desk.feed(&answer_to(&request), |_| {}).unwrap();
        let mut server = server_side(Vec::new());
        server
            .send(Message::text("MSG<SEP>1\nMSG<SEP>2\n"))
            .unwrap();
        let bytes = std::mem::take(&mut server.get_mut().output);
        let mut texts = Vec::new();
        for byte in bytes.chunks(1) {
            desk.feed(byte, |text| texts.push(text.to_vec())).unwrap();
        }
        assert_eq!(texts, [b"MSG<SEP>1\nMSG<SEP>2\n".to_vec()]);
    }

    #[test]
    fn a_wrong_answer_fails_the_upgrade() {
        let (mut desk, _request) = upgraded();
        let refused = b"HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n";
        assert!(desk.feed(refused, |_| {}).is_err());
        let (mut desk, _request) = upgraded();
        let bad_key = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
            Connection: Upgrade\r\nSec-WebSocket-Accept: AAAA\r\n\r\n";
        assert!(desk.feed(bad_key, |_| {}).is_err());
    }

    #[test]
    fn a_ping_is_answered_and_a_close_ends_the_socket() {
        let (mut desk, request) = upgraded();
        desk.feed(&answer_to(&request), |_| {}).unwrap();
        let mut server = server_side(Vec::new());
        server.send(Message::Ping(b"hb".to_vec().into())).unwrap();
        let ping = std::mem::take(&mut server.get_mut().output);
        desk.feed(&ping, |_| {}).unwrap();
        let mut pong = Vec::new();
        desk.take_output(&mut pong);
        let mut server = server_side(pong);
        assert_eq!(server.read().unwrap(), Message::Pong(b"hb".to_vec().into()));
        server.close(None).unwrap();
        let close = std::mem::take(&mut server.get_mut().output);
        assert!(desk.feed(&close, |_| {}).is_err());
    }
}
