//! A browser desk's WebSocket (RFC 6455) once its request is upgraded: the
//! frames it sends become lines of our protocol ([`SocketReader`]), and our
//! lines become the frames it is sent ([`text_frame`]).
//!
//! The protocol itself (unmasking, fragments, control frames, the closing
//! handshake, UTF-8 in text frames) is tungstenite's [`WebSocketContext`],
//! fed the bytes the loop read into its shared buffer; nothing here blocks
//! or owns the socket. Each text message carries lines of our protocol; a
//! message that does not end its last line has it ended.
//!
//! What a desk may send is bounded: a message is at most a line (and its
//! line end), control frames come at most [`CONTROL_FRAMES_PER_SECOND`] a
//! second, and binary frames are refused. Breaking a rule closes the
//! socket with the code RFC 6455 gives it (1002, 1003, 1007, 1008, 1009).

use std::io::{self, Read, Write};
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use chat_shared::{Line, LineReader};
use tungstenite::error::{CapacityError, Error};
use tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tungstenite::protocol::frame::{CloseFrame, FrameHeader};
use tungstenite::protocol::{Message, Role, WebSocketConfig, WebSocketContext};

use crate::close::SocketEnd;
use crate::frames::Frame;

/// The capacity tungstenite's read buffer starts with, and the most it
/// copies in at once. A browser's line is a few dozen bytes, and reading
/// is rare next to delivering: a small buffer keeps an idle desk small
/// (tungstenite's default is 128 KiB; 256 here cost 130 B more per idle
/// desk). The buffer grows to the largest frame the desk sent, which the
/// line limit bounds.
const READ_CHUNK_BYTES: usize = 64;

/// Most control frames (ping, pong, close) a desk may send in a second.
/// Browsers send none on their own; a tool that keeps the socket alive
/// sends one every few seconds.
pub const CONTROL_FRAMES_PER_SECOND: u32 = 10;

/// One browser desk's side of the socket: the WebSocket protocol, and the
/// lines in its text messages.
#[derive(Debug)]
pub struct SocketReader {
    /// Frames, masks, fragments, control frames and the closing handshake.
    context: WebSocketContext,
    /// Splits text messages into lines, as a plain desk's bytes are split.
    lines: LineReader,
    /// Bytes read from the socket and not handed to `context` yet, kept
    /// when the caller paused (a name being claimed, the rate limit).
    unread: Vec<u8>,
    /// True after the caller paused: lines, bytes or whole frames (in
    /// `context`'s buffer) may wait, and no readiness event will come for
    /// them.
    paused: bool,
    /// Control frames in the current second.
    controls: ControlBudget,
    /// What must be sent back below the lines: pongs, the close frame.
    replies: Vec<u8>,
    /// Set once the socket is over: nothing more is read.
    end: Option<SocketEnd>,
}

impl SocketReader {
    /// The socket of a desk whose upgrade was just answered; `early` holds
    /// the bytes it sent after its request, and `max_line_bytes` is the
    /// longest line (and so message) it may send.
    pub fn new(early: Vec<u8>, max_line_bytes: usize) -> SocketReader {
        // A line, and its `\r\n`.
        let max_message = max_line_bytes + 2;
        let config = WebSocketConfig::default()
            .read_buffer_size(READ_CHUNK_BYTES)
            .write_buffer_size(0)
            .max_message_size(Some(max_message))
            .max_frame_size(Some(max_message));
        // Frames sent with the request wait in the context: no readiness
        // event will come for them.
        let paused = !early.is_empty();
        SocketReader {
            context: WebSocketContext::from_partially_read(early, Role::Server, Some(config)),
            lines: LineReader::new(max_line_bytes),
            unread: Vec::new(),
            paused,
            controls: ControlBudget::default(),
            replies: Vec::new(),
            end: None,
        }
    }

    /// Feeds bytes just read and calls `on_line` for each line their text
    /// messages hold, in order. `Break` from `on_line` keeps the rest for
    /// the next call (which may feed nothing). Returns `Break` too once
    /// the socket is over ([`SocketReader::end`]).
    pub fn feed(
        &mut self,
        input: &[u8],
        mut on_line: impl FnMut(Line<'_>) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        if self.end.is_some() {
            return ControlFlow::Break(());
        }
        self.paused = false;
        // Lines of a message that an earlier pause held back go first.
        if self.lines.buffered_bytes() > 0 && self.lines.feed(&[], &mut on_line).is_break() {
            self.unread.extend_from_slice(input);
            self.paused = true;
            return ControlFlow::Break(());
        }
        let mut held = std::mem::take(&mut self.unread);
        let source: &[u8] = if held.is_empty() {
            input
        } else {
            held.extend_from_slice(input);
            &held
        };
        let SocketReader {
            context,
            lines,
            unread,
            paused,
            controls,
            replies,
            end,
        } = self;
        let mut pipe = Pipe {
            input: source,
            replies,
        };
        loop {
            let refusal = match context.read(&mut pipe) {
                Ok(Message::Text(text)) => {
                    if take_lines(lines, text.as_bytes(), &mut on_line).is_break() {
                        *unread = pipe.input.to_vec();
                        *paused = true;
                        return ControlFlow::Break(());
                    }
                    continue;
                }
                Ok(Message::Ping(_) | Message::Pong(_) | Message::Close(_)) => {
                    // A ping's pong (or a close's answer) goes with the next
                    // read, which tungstenite makes below.
                    if controls.take(Instant::now()) {
                        continue;
                    }
                    (CloseCode::Policy, "too many control frames")
                }
                Ok(Message::Binary(_) | Message::Frame(_)) => {
                    (CloseCode::Unsupported, "text frames only")
                }
                Err(Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    return ControlFlow::Continue(());
                }
                Err(Error::ConnectionClosed | Error::AlreadyClosed) => {
                    *end = Some(SocketEnd::Closed);
                    return ControlFlow::Break(());
                }
                Err(Error::Utf8(_)) => (CloseCode::Invalid, "text is not UTF-8"),
                Err(Error::Capacity(CapacityError::MessageTooLong { .. })) => {
                    (CloseCode::Size, "a message is at most a line")
                }
                Err(Error::Protocol(_)) => (CloseCode::Protocol, "not the WebSocket protocol"),
                Err(_) => (CloseCode::Error, "the socket failed"),
            };
            let (code, reason) = refusal;
            let close = CloseFrame {
                code,
                reason: reason.into(),
            };
            // Nothing more is read either way; the frame is a courtesy.
            let _ = context.close(&mut pipe, Some(close));
            *end = Some(SocketEnd::Refused {
                code: code.into(),
                reason,
            });
            return ControlFlow::Break(());
        }
    }

    /// Why the socket is over, once it is.
    pub fn end(&self) -> Option<&SocketEnd> {
        self.end.as_ref()
    }

    /// Takes what must be sent back (pongs, a close frame), if anything.
    pub fn take_replies(&mut self) -> Option<Vec<u8>> {
        (!self.replies.is_empty()).then(|| std::mem::take(&mut self.replies))
    }

    /// True while what the desk sent may wait for the caller to read on
    /// (it paused), the socket being open.
    pub fn has_held(&self) -> bool {
        self.paused && self.end.is_none()
    }

    /// Frees the buffers that hold nothing.
    pub fn shrink(&mut self) {
        self.lines.shrink();
        if self.unread.is_empty() {
            self.unread = Vec::new();
        }
    }
}

/// Hands the lines of one text message to `on_line`; a last line without
/// its line end is ended.
fn take_lines(
    lines: &mut LineReader,
    text: &[u8],
    on_line: &mut impl FnMut(Line<'_>) -> ControlFlow<()>,
) -> ControlFlow<()> {
    if text.ends_with(b"\n") || text.ends_with(b"\r") {
        return lines.feed(text, on_line);
    }
    let mut ended = Vec::with_capacity(text.len() + 1);
    ended.extend_from_slice(text);
    ended.push(b'\n');
    lines.feed(&ended, on_line)
}

/// Our line (or lines) `frame` as one unmasked text frame: what every
/// browser desk is sent, encoded once per broadcast.
pub fn text_frame(frame: &Frame) -> Frame {
    let header = FrameHeader {
        opcode: OpCode::Data(Data::Text),
        ..FrameHeader::default()
    };
    let length = frame.len() as u64;
    let mut bytes = Vec::with_capacity(header.len(length) + frame.len());
    header
        .format(length, &mut bytes)
        .expect("writing to a Vec cannot fail");
    bytes.extend_from_slice(frame);
    Frame::new(bytes)
}

/// The stream tungstenite reads and writes: the bytes the loop read, then
/// `WouldBlock`; and what it writes, kept for the connection to send.
struct Pipe<'a> {
    input: &'a [u8],
    replies: &'a mut Vec<u8>,
}

impl Read for Pipe<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.input.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = self.input.read(buf)?;
        Ok(n)
    }
}

impl Write for Pipe<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.replies.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Counts control frames in one-second windows.
#[derive(Debug, Default)]
struct ControlBudget {
    /// When the current window began.
    since: Option<Instant>,
    /// Control frames in it.
    count: u32,
}

impl ControlBudget {
    /// Counts one control frame at `now`; false when it is one too many.
    fn take(&mut self, now: Instant) -> bool {
        let fresh = self
            .since
            .is_none_or(|since| now.saturating_duration_since(since) >= Duration::from_secs(1));
        if fresh {
            self.since = Some(now);
            self.count = 0;
        }
        self.count += 1;
        self.count <= CONTROL_FRAMES_PER_SECOND
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client's masked frame.
    fn masked(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
        let mask = [0x12, 0x34, 0x56, 0x78];
        let mut out = vec![opcode | if fin { 0x80 } else { 0 }];
        match payload.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    fn read_all(reader: &mut SocketReader, input: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        let _ = reader.feed(input, |line| {
            out.push(match line {
                Line::Complete(bytes) => String::from_utf8_lossy(bytes).into_owned(),
                Line::TooLong => "(too long)".to_string(),
            });
            ControlFlow::Continue(())
        });
        out
    }

    #[test]
    fn text_messages_are_lines() {
        let mut reader = SocketReader::new(Vec::new(), 64);
        let mut input = masked(0x1, true, b"/who\n");
        input.extend(masked(0x1, true, b"alice<SEP>hi"));
        input.extend(masked(0x1, true, b"a\nb\n"));
        assert_eq!(
            read_all(&mut reader, &input),
            ["/who", "alice<SEP>hi", "a", "b"]
        );
        assert_eq!(reader.end(), None);
    }

    #[test]
    fn a_frame_split_across_reads_and_a_fragmented_message_are_whole_lines() {
        let mut reader = SocketReader::new(Vec::new(), 64);
        let mut input = masked(0x1, false, b"hel");
        input.extend(masked(0x0, true, b"lo\n"));
        let (first, rest) = input.split_at(5);
        assert!(read_all(&mut reader, first).is_empty());
        assert_eq!(read_all(&mut reader, rest), ["hello"]);
    }

    #[test]
    fn a_ping_is_answered_with_its_pong() {
        let mut reader = SocketReader::new(Vec::new(), 64);
        read_all(&mut reader, &masked(0x9, true, b"hb"));
        assert_eq!(reader.take_replies(), Some(vec![0x8a, 0x02, b'h', b'b']));
        assert_eq!(reader.take_replies(), None);
    }

    #[test]
    fn a_close_is_answered_and_ends_the_socket() {
        let mut reader = SocketReader::new(Vec::new(), 64);
        read_all(&mut reader, &masked(0x8, true, &1000u16.to_be_bytes()));
        assert_eq!(reader.end(), Some(&SocketEnd::Closed));
        assert_eq!(reader.take_replies(), Some(vec![0x88, 0x02, 0x03, 0xe8]));
    }

    #[track_caller]
    fn assert_refused(input: &[u8], code: u16) {
        let mut reader = SocketReader::new(Vec::new(), 64);
        read_all(&mut reader, input);
        match reader.end() {
            Some(SocketEnd::Refused { code: sent, .. }) => assert_eq!(*sent, code),
            other => panic!("expected a refusal with {code}, got {other:?}"),
        }
        // Pongs to the pings before may come with it.
        let replies = reader.take_replies().expect("a close frame");
        let mut at = 0;
        while replies[at] != 0x88 {
            at += 2 + usize::from(replies[at + 1]);
        }
        assert_eq!(u16::from_be_bytes([replies[at + 2], replies[at + 3]]), code);
    }

    #[test]
    fn rule_breakers_are_closed_with_the_right_code() {
        assert_refused(&masked(0x1, true, &[0xff, 0xfe, b'\n']), 1007);
        assert_refused(&masked(0x1, true, &[b'x'; 100]), 1009);
        assert_refused(&masked(0x2, true, b"bin"), 1003);
        // Unmasked, as only a server may send.
        assert_refused(&[0x81, 0x02, b'h', b'i'], 1002);
        // A fragmented ping.
        assert_refused(&masked(0x9, false, b"p"), 1002);
        let flood: Vec<u8> = (0..=CONTROL_FRAMES_PER_SECOND)
            .flat_map(|_| masked(0x9, true, b""))
            .collect();
        assert_refused(&flood, 1008);
    }

    #[test]
    fn lines_after_a_pause_come_first_next_time() {
        let mut reader = SocketReader::new(Vec::new(), 64);
        let mut input = masked(0x1, true, b"one\ntwo\n");
        input.extend(masked(0x1, true, b"three\n"));
        let mut seen = Vec::new();
        let flow = reader.feed(&input, |line| {
            if let Line::Complete(bytes) = line {
                seen.push(String::from_utf8_lossy(bytes).into_owned());
            }
            ControlFlow::Break(())
        });
        assert!(flow.is_break());
        assert_eq!(seen, ["one"]);
        assert!(reader.has_held());
        assert_eq!(read_all(&mut reader, &[]), ["two", "three"]);
        assert!(!reader.has_held());
    }

    #[test]
    fn frames_sent_with_the_request_are_read_on_resuming() {
        let mut reader = SocketReader::new(masked(0x1, true, b"/who\n"), 64);
        assert!(reader.has_held(), "the loop must come back for them");
        assert_eq!(read_all(&mut reader, &[]), ["/who"]);
        assert!(!reader.has_held());
    }

    #[test]
    fn our_line_is_one_unmasked_text_frame() {
        let frame = text_frame(&Frame::new(b"PONG\n".to_vec()));
        assert_eq!(&frame[..], b"\x81\x05PONG\n");
        let long = text_frame(&Frame::new(vec![b'a'; 300]));
        assert_eq!(&long[..4], &[0x81, 126, 0x01, 0x2c]);
        assert_eq!(long.len(), 304);
    }
}
