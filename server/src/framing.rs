//! How a connection's bytes become what the rules act on, and how a server
//! line becomes the bytes that connection is sent: one [`Framing`] per
//! connection, whose [`Dialect`] is decided by what the peer sends first.
//!
//! | dialect | told by | a line ends at | it is sent |
//! |---|---|---|---|
//! | [`Dialect::Undecided`] | nothing sent yet | a newline | nothing yet: our lines wait ([`Dialect::holds_output`]) |
//! | [`Dialect::Desk`] | a first line of our protocol, or silence | a newline | our lines |
//! | [`Dialect::Seed`] | ESC as the first byte | colorama's reset | what the seed server relayed ([`chat_shared::seed`]) |
//! | [`Dialect::Irc`] | `CAP`, `NICK`, `USER`, `PASS`, `PING` or `QUIT` first ([`crate::irc::is_first_line`]) | a newline | IRC ([`crate::irc`]) |
//! | [`Dialect::Http`] | an HTTP request line ([`web::is_request_line`]) | a newline, up to [`web::MAX_HEAD_BYTES`] | its answer ([`crate::web`]), then the connection closes |
//! | [`Dialect::WebDesk`] | an HTTP request upgraded to a WebSocket | a newline, in text messages | our lines, one text frame each ([`web::text_frame`]) |
//!
//! A connection is told apart on its first line, not its first byte, so that
//! other protocols on the same port can be told from ours: until then our
//! lines wait for it, and a peer that says nothing for
//! [`DECIDE_AFTER`] is served as one of ours (`nc`, the load tools'
//! readers) until its own first bytes say otherwise (a seed desk's user
//! types a name before its first frame).
//!
//! The rules speak our protocol only: every [`Frame`] an effect carries is
//! one of our lines. A dialect hands what its peer sends to the rules
//! ([`Dialect::handle`]) and renders our lines for its peer
//! ([`Dialect::render`]); a broadcast is rendered once per [`RenderKey`],
//! not once per connection ([`Renderings`]). A new dialect is a variant
//! here with an arm in each of those.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use chat_shared::seed::{self, FRAME_END};
use chat_shared::{ClientLine, Line, LineReader, ServerLine};

use crate::chat::{Chat, Context, Input};
use crate::close::{AfterLine, CloseReason};
use crate::frames::Frame;
use crate::irc;
use crate::web::{self, SocketReader};

/// How long a connection may say nothing before it counts as one of our
/// desks and gets what waited for it. Every client of another protocol
/// sends its first line at once (IRC clients within a few milliseconds).
pub const DECIDE_AFTER: Duration = Duration::from_millis(250);

/// Which protocol a peer speaks.
#[derive(Debug)]
pub enum Dialect {
    /// It has sent no line yet: what the rules send it waits.
    Undecided,
    /// Our line protocol.
    Desk,
    /// The seed project's Python desk ([`chat_shared::seed`]).
    Seed,
    /// An IRC client ([`crate::irc`]).
    Irc(Box<irc::Session>),
    /// A browser's HTTP request, its head being read: it is answered, or
    /// upgraded to a [`Dialect::WebDesk`].
    Http(Box<web::Request>),
    /// A browser desk: our protocol in WebSocket text messages.
    WebDesk,
}

/// Which connections share a broadcast's rendering: those whose dialect
/// (and its options) gives the same bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderKey(u32);

impl RenderKey {
    const OURS: RenderKey = RenderKey(0);
    const SEED: RenderKey = RenderKey(1);
    const WEB: RenderKey = RenderKey(2);
    /// An HTTP request, which is sent none of our lines.
    const HTTP: RenderKey = RenderKey(3);

    /// An IRC client's key: its options' bits, above those of the other
    /// dialects.
    fn irc(bits: u32) -> RenderKey {
        RenderKey(1 << 24 | bits)
    }
}

impl Dialect {
    /// The dialect of a peer whose first line is `line`, on a server whose
    /// lines are at most `max_line_bytes` long.
    fn of_first_line(line: &[u8], max_line_bytes: usize, irc: &Arc<irc::Settings>) -> Dialect {
        if web::is_request_line(line) {
            return Dialect::Http(Box::new(web::Request::new(max_line_bytes)));
        }
        if irc::is_first_line(line) {
            return Dialect::Irc(Box::new(irc::Session::new(Arc::clone(irc))));
        }
        Dialect::Desk
    }

    /// True while what the rules send must wait: the peer has not said what
    /// it speaks.
    pub fn holds_output(&self) -> bool {
        matches!(self, Dialect::Undecided)
    }

    /// Hands one line of this dialect to the rules, and says whether the
    /// reader goes on. Bytes that are not UTF-8 are replaced, never fatal.
    pub fn handle(&mut self, line: Line<'_>, cx: &mut Context<'_>) -> AfterLine {
        if let Dialect::Http(request) = self {
            return match web::on_head_line(request, line, cx) {
                web::Next::Reading => AfterLine::Continue,
                web::Next::Answered(after) => after,
                web::Next::Upgraded => {
                    *self = Dialect::WebDesk;
                    AfterLine::Continue
                }
            };
        }
        let bytes = match (line, &mut *self) {
            (line, Dialect::Irc(session)) if matches!(line, Line::TooLong) => {
                return session.handle(line, cx)
            }
            (Line::Complete(bytes), _) => bytes,
            (Line::TooLong, _) => return cx.handle(Input::TooLong),
        };
        if let Dialect::Irc(session) = self {
            return session.handle(Line::Complete(bytes), cx);
        }
        let text = String::from_utf8_lossy(bytes);
        match self {
            Dialect::Seed => cx.handle(Input::Seed(seed::parse_frame(&text))),
            Dialect::Undecided | Dialect::Desk | Dialect::WebDesk | Dialect::Http(_) => {
                cx.handle(Input::Line(ClientLine::parse(&text)))
            }
            Dialect::Irc(_) => unreachable!("handled above"),
        }
    }

    /// Our line `frame` as this connection's peer is sent it, or `None`
    /// when the peer has no use for it. `chat` is there for a dialect that
    /// needs to know more than the line says.
    pub fn render(&self, frame: &Frame, chat: &Chat) -> Option<Frame> {
        match self {
            Dialect::Undecided | Dialect::Desk => Some(frame.clone()),
            Dialect::Seed => for_seed_desk(frame),
            Dialect::Irc(session) => session.render(frame, chat),
            Dialect::WebDesk => Some(web::text_frame(frame)),
            Dialect::Http(_) => None,
        }
    }

    /// Which connections get the same bytes for a broadcast as this one.
    pub fn render_key(&self) -> RenderKey {
        match self {
            Dialect::Undecided | Dialect::Desk => RenderKey::OURS,
            Dialect::Seed => RenderKey::SEED,
            Dialect::Irc(session) => RenderKey::irc(session.render_bits()),
            Dialect::WebDesk => RenderKey::WEB,
            Dialect::Http(_) => RenderKey::HTTP,
        }
    }

    /// Whether the peer gets `#main`'s broadcasts: every desk of ours does;
    /// an IRC client only while it shows `#main` as a joined channel.
    pub fn hears_main(&self) -> bool {
        match self {
            Dialect::Irc(session) => session.shows_main(),
            _ => true,
        }
    }

    /// Whether the peer wants its own messages back (every desk of ours
    /// does: its copy is how it knows the room has the message; an IRC
    /// client only with `echo-message`).
    pub fn takes_own_copy(&self) -> bool {
        match self {
            Dialect::Irc(session) => session.takes_own_copy(),
            _ => true,
        }
    }

    /// Whether the peer is in the rooms (and gets their broadcasts) as soon
    /// as it is let in, before it says anything.
    pub fn in_rooms_at_once(&self) -> bool {
        matches!(
            self,
            Dialect::Undecided | Dialect::Desk | Dialect::Seed | Dialect::WebDesk
        )
    }
}

/// The same line as a seed desk is sent it ([`chat_shared::seed::render`]).
fn for_seed_desk(frame: &Frame) -> Option<Frame> {
    let line = std::str::from_utf8(frame).ok()?.trim_end_matches('\n');
    let parsed = ServerLine::parse(line).ok()?;
    seed::render(&parsed).map(Frame::new)
}

/// One connection's side of the protocol: its dialect, and the reader that
/// splits what it sends into that dialect's lines.
#[derive(Debug)]
pub struct Framing {
    dialect: Dialect,
    /// Splits the peer's bytes into lines.
    reader: Reader,
    /// `--max-line`, for the reader made once the dialect is known.
    max_line_bytes: usize,
    /// Whether the peer's own bytes said what it speaks (its first line,
    /// or a seed desk's first byte). Until then a peer taken for one of
    /// our desks because it was silent may still turn out to be another:
    /// a seed desk's user types a name before its first frame.
    said: bool,
    /// What an IRC client's session is made with.
    irc: Arc<irc::Settings>,
}

/// What splits a peer's bytes into lines.
#[derive(Debug)]
enum Reader {
    /// Lines on the stream itself (or a seed desk's frames).
    Lines(LineReader),
    /// Lines in a browser desk's WebSocket messages.
    Socket(Box<SocketReader>),
}

impl Framing {
    /// A connection's framing before its peer has sent anything.
    pub fn new(max_line_bytes: usize, irc: Arc<irc::Settings>) -> Framing {
        Framing {
            dialect: Dialect::Undecided,
            reader: Reader::Lines(LineReader::new(max_line_bytes)),
            max_line_bytes,
            said: false,
            irc,
        }
    }

    /// A connection on the IRC-only port (`--irc-port`): IRC from its first
    /// line on.
    pub fn irc(irc: Arc<irc::Settings>) -> Framing {
        Framing {
            dialect: Dialect::Irc(Box::new(irc::Session::new(Arc::clone(&irc)))),
            reader: Reader::Lines(LineReader::new(irc::line::MAX_INPUT_BYTES)),
            max_line_bytes: irc::line::MAX_INPUT_BYTES,
            said: true,
            irc,
        }
    }

    /// The protocol the peer speaks.
    pub fn dialect(&self) -> &Dialect {
        &self.dialect
    }

    /// Whether the peer's own bytes said what it speaks (see
    /// [`Framing::feed`]); a silent peer is served as a desk before that.
    pub fn dialect_said(&self) -> bool {
        self.said
    }

    /// The peer said nothing for [`DECIDE_AFTER`]: it is served as one of
    /// our desks until its first bytes say what it is.
    pub fn decide_silent(&mut self) {
        if matches!(self.dialect, Dialect::Undecided) {
            self.dialect = Dialect::Desk;
        }
    }

    /// Feeds bytes just read, calling `on_line` for each line they complete,
    /// in order, with the dialect to hand it to (decided on the first byte
    /// for a seed desk, on the first line otherwise, even if the peer was
    /// taken for a desk while it was silent). `Break` from `on_line` keeps
    /// the rest for [`Framing::resume`]; `Break` is also returned once the
    /// peer's stream is over ([`Framing::ended`]).
    pub fn feed(
        &mut self,
        bytes: &[u8],
        mut on_line: impl FnMut(&mut Dialect, Line<'_>) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        if !self.said && self.buffered_bytes() == 0 {
            if let Some(&first) = bytes.first() {
                if seed::is_seed_desk(first) {
                    self.dialect = Dialect::Seed;
                    self.said = true;
                    self.reader =
                        Reader::Lines(LineReader::ending_with(FRAME_END, self.max_line_bytes));
                }
            }
        }
        let Framing {
            dialect,
            reader,
            max_line_bytes,
            said,
            irc,
        } = self;
        let mut input = bytes;
        loop {
            let lines = match reader {
                Reader::Socket(socket) => return socket.feed(input, |line| on_line(dialect, line)),
                Reader::Lines(lines) => lines,
            };
            // Set when a line makes the reader change: a request's head and
            // IRC's tagged lines are longer than ours, and after an upgrade
            // come frames.
            let mut changes_reader = false;
            let mut flow = ControlFlow::Continue(());
            let read = lines.feed(input, |line| {
                let first = !*said && matches!(line, Line::Complete(_));
                if let (true, Line::Complete(bytes)) = (first, &line) {
                    *dialect = Dialect::of_first_line(bytes, *max_line_bytes, irc);
                    *said = true;
                }
                flow = on_line(dialect, line);
                changes_reader = (first && matches!(dialect, Dialect::Http(_) | Dialect::Irc(_)))
                    || matches!(dialect, Dialect::WebDesk);
                if changes_reader {
                    ControlFlow::Break(())
                } else {
                    flow
                }
            });
            if !changes_reader {
                return read;
            }
            match dialect {
                Dialect::WebDesk => {
                    let early = lines.take_buffered();
                    *reader = Reader::Socket(Box::new(SocketReader::new(early, *max_line_bytes)));
                }
                // IRC lines carry up to 4 KiB of tags besides.
                Dialect::Irc(_) => lines.set_max_line_bytes(irc::line::MAX_INPUT_BYTES),
                _ => lines.set_max_line_bytes(web::MAX_HEAD_BYTES),
            }
            if flow.is_break() {
                return flow;
            }
            // What came after the line goes to the reader it now has.
            input = &[];
        }
    }

    /// Bytes the line reader holds (before an upgrade).
    fn buffered_bytes(&self) -> usize {
        match &self.reader {
            Reader::Lines(lines) => lines.buffered_bytes(),
            Reader::Socket(_) => 0,
        }
    }

    /// Hands out lines held back by an earlier `Break`, if any.
    pub fn resume(
        &mut self,
        on_line: impl FnMut(&mut Dialect, Line<'_>) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        let held = match &self.reader {
            Reader::Lines(lines) => lines.buffered_bytes() > 0,
            Reader::Socket(socket) => socket.has_held(),
        };
        if !held {
            return ControlFlow::Continue(());
        }
        self.feed(&[], on_line)
    }

    /// What the framing itself must send the peer, below our lines: a
    /// WebSocket's pongs and its close frame.
    pub fn take_replies(&mut self) -> Option<Frame> {
        match &mut self.reader {
            Reader::Socket(socket) => socket.take_replies().map(Frame::new),
            Reader::Lines(_) => None,
        }
    }

    /// Why the peer's stream is over, when the framing can tell: its
    /// WebSocket was closed, or broke a rule.
    pub fn ended(&self) -> Option<CloseReason> {
        match &self.reader {
            Reader::Socket(socket) => socket.end().cloned().map(CloseReason::Socket),
            Reader::Lines(_) => None,
        }
    }

    /// Frees the reader's buffer when it holds nothing.
    pub fn shrink(&mut self) {
        match &mut self.reader {
            Reader::Lines(lines) => lines.shrink(),
            Reader::Socket(socket) => socket.shrink(),
        }
    }
}

/// One broadcast frame, rendered for each [`RenderKey`] the first time a
/// member with it is sent the frame.
#[derive(Debug)]
pub struct Renderings<'a> {
    ours: &'a Frame,
    /// Renderings made so far, by key (few: one per dialect and options).
    made: Vec<(RenderKey, Option<Frame>)>,
}

impl<'a> Renderings<'a> {
    /// Renderings of `ours`, none made yet.
    pub fn new(ours: &'a Frame) -> Renderings<'a> {
        Renderings {
            ours,
            made: Vec::new(),
        }
    }

    /// The frame as `dialect` is sent it, or `None` when it has no use for
    /// it.
    pub fn get(&mut self, dialect: &Dialect, chat: &Chat) -> Option<&Frame> {
        let key = dialect.render_key();
        if key == RenderKey::OURS {
            return Some(self.ours);
        }
        let at = match self.made.iter().position(|(made, _)| *made == key) {
            Some(at) => at,
            None => {
                self.made.push((key, dialect.render(self.ours, chat)));
                self.made.len() - 1
            }
        };
        self.made[at].1.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    use crate::chat::Settings;
    use crate::effect::Effect;
    use crate::frames::encode;
    use crate::ids::Asker;

    /// Which dialect, as a word the tests compare.
    fn kind(dialect: &Dialect) -> &'static str {
        match dialect {
            Dialect::Undecided => "undecided",
            Dialect::Desk => "desk",
            Dialect::Seed => "seed",
            Dialect::Irc(_) => "irc",
            Dialect::Http(_) => "http",
            Dialect::WebDesk => "web desk",
        }
    }

    fn irc() -> Arc<irc::Settings> {
        Arc::new(irc::Settings::new("irc.test", true, Vec::new()))
    }

    fn lines(framing: &mut Framing, bytes: &[u8]) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let _ = framing.feed(bytes, |dialect, line| {
            let text = match line {
                Line::Complete(bytes) => String::from_utf8_lossy(bytes).into_owned(),
                Line::TooLong => "(too long)".to_string(),
            };
            out.push((kind(dialect), text));
            ControlFlow::Continue(())
        });
        out
    }

    fn chat() -> Chat {
        Chat::new(
            Settings {
                history_limit: 0,
                replay_budget_bytes: 0,
                max_line_bytes: 64,
                epoch: "e".to_string(),
                can_search: false,
                shared_as: None,
            },
            None,
        )
    }

    #[test]
    fn a_desk_is_told_by_its_first_line() {
        let mut framing = Framing::new(64, irc());
        assert_eq!(kind(framing.dialect()), "undecided");
        assert!(framing.dialect().holds_output());
        lines(&mut framing, b"alice<SEP>h");
        assert_eq!(kind(framing.dialect()), "undecided", "no line yet");
        assert_eq!(
            lines(&mut framing, b"i\n"),
            [("desk", "alice<SEP>hi".to_string())]
        );
        assert!(!framing.dialect().holds_output());
    }

    #[test]
    fn an_irc_client_is_told_by_its_first_command() {
        for first in [
            "CAP LS 302",
            "NICK alice",
            "nick bob",
            "USER u 0 * :R",
            "PASS x",
            "QUIT",
        ] {
            let mut framing = Framing::new(64, irc());
            let line = format!("{first}\r\n");
            assert_eq!(lines(&mut framing, line.as_bytes())[0].0, "irc", "{first}");
            assert!(!framing.dialect().in_rooms_at_once());
        }
        for desk in [
            "NICK<SEP>hello",
            "NICKNAME<SEP>hi",
            "/join NICK",
            "CAPS lock",
        ] {
            let mut framing = Framing::new(64, irc());
            let line = format!("{desk}\n");
            assert_eq!(lines(&mut framing, line.as_bytes())[0].0, "desk", "{desk}");
        }
    }

    #[test]
    fn an_irc_client_may_send_lines_longer_than_a_desk() {
        let mut framing = Framing::new(64, irc());
        let long = format!("NICK a\r\n@+tag={} PRIVMSG #x :hi\r\n", "v".repeat(200));
        let got = lines(&mut framing, long.as_bytes());
        assert_eq!(got.len(), 2);
        assert!(got[1].1.ends_with("PRIVMSG #x :hi"), "{got:?}");
    }

    #[test]
    fn a_silent_peer_is_one_of_ours() {
        let mut framing = Framing::new(64, irc());
        framing.decide_silent();
        assert_eq!(kind(framing.dialect()), "desk");
    }

    #[test]
    fn a_seed_desk_taken_for_a_desk_while_silent_is_a_seed_desk_when_it_speaks() {
        let mut framing = Framing::new(64, irc());
        framing.decide_silent();
        assert!(!framing.dialect_said());
        let got = lines(&mut framing, b"\x1b[34m[t] old<SEP>hi\x1b[39m");
        assert_eq!(got, [("seed", "\x1b[34m[t] old<SEP>hi".to_string())]);
        assert!(framing.dialect_said());
    }

    #[test]
    fn a_seed_desk_is_told_by_escape_and_framed_by_the_colour_reset() {
        let mut framing = Framing::new(64, irc());
        let got = lines(&mut framing, b"\x1b[34m[t] old<SEP>hi\x1b[39m");
        assert_eq!(got, [("seed", "\x1b[34m[t] old<SEP>hi".to_string())]);
    }

    #[test]
    fn the_first_line_decides_once() {
        let mut framing = Framing::new(64, irc());
        lines(&mut framing, b"/who\n");
        let got = lines(&mut framing, b"\x1b[34m hi\n");
        assert_eq!(got[0].0, "desk");
    }

    #[test]
    fn a_line_over_the_limit_is_reported() {
        let mut framing = Framing::new(8, irc());
        assert_eq!(
            lines(&mut framing, b"0123456789\nok\n"),
            [
                ("undecided", "(too long)".to_string()),
                ("desk", "ok".to_string())
            ]
        );
    }

    #[test]
    fn an_http_request_is_told_by_its_first_line_and_reads_longer_lines() {
        let mut framing = Framing::new(64, irc());
        let header = format!("X-Long: {}", "a".repeat(200));
        let got = lines(
            &mut framing,
            format!("GET / HTTP/1.1\r\n{header}\r\n\r\n").as_bytes(),
        );
        assert_eq!(got[0].0, "http", "{got:?}");
        assert_eq!(got[1].1, header, "a header past our line limit is whole");
        assert_eq!(got.len(), 3);
        assert!(!framing.dialect().in_rooms_at_once());
    }

    /// A browser's handshake, then one masked text frame saying `/ping`.
    fn handshake_and_ping() -> Vec<u8> {
        let mut bytes = b"GET /ws HTTP/1.1\r\nHost: h:1\r\nUpgrade: websocket\r\n\
            Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
            Sec-WebSocket-Version: 13\r\nOrigin: http://h:1\r\n\r\n"
            .to_vec();
        let mask = [1, 2, 3, 4];
        bytes.extend_from_slice(&[0x81, 0x80 | 6]);
        bytes.extend_from_slice(&mask);
        bytes.extend(
            b"/ping\n"
                .iter()
                .zip(mask.iter().cycle())
                .map(|(b, m)| b ^ m),
        );
        bytes
    }

    #[test]
    fn an_upgraded_request_is_a_web_desk_whose_frames_are_lines() {
        let mut chat = chat();
        let mut effects = Vec::new();
        let mut framing = Framing::new(64, irc());
        let mut cx = Context {
            chat: &mut chat,
            from: Asker { conn: 7, serial: 1 },
            peer: "127.0.0.1:1".parse().unwrap(),
            now: Instant::now(),
            effects: &mut effects,
        };
        let flow = framing.feed(&handshake_and_ping(), |dialect, line| {
            match dialect.handle(line, &mut cx) {
                AfterLine::Continue => ControlFlow::Continue(()),
                other => panic!("{other:?}"),
            }
        });
        assert!(flow.is_continue());
        assert_eq!(kind(framing.dialect()), "web desk");
        let sent: Vec<String> = effects
            .iter()
            .map(|effect| match effect {
                Effect::SendRaw(7, frame) | Effect::Send(7, frame) => {
                    String::from_utf8_lossy(frame).into_owned()
                }
                other => panic!("{other:?}"),
            })
            .collect();
        assert!(sent[0].starts_with("HTTP/1.1 101 "), "{sent:?}");
        assert_eq!(sent[1], "PONG\n");
        assert!(chat.is_in(7), "a web desk is in the room as any desk");
        assert!(framing.take_replies().is_none());
        assert!(framing.ended().is_none());
    }

    #[test]
    fn a_broadcast_is_one_text_frame_for_every_web_desk() {
        let chat = chat();
        let frame = encode(&ServerLine::Notice { text: "hello" });
        let mut renderings = Renderings::new(&frame);
        let web = renderings.get(&Dialect::WebDesk, &chat).cloned().unwrap();
        let again = renderings.get(&Dialect::WebDesk, &chat).cloned().unwrap();
        assert!(Frame::ptr_eq(&web, &again), "encoded once");
        assert_eq!(web[0], 0x81, "a final text frame");
        assert_eq!(
            usize::from(web[1]),
            frame.len(),
            "unmasked, the line as it is"
        );
        assert_eq!(&web[2..], &frame[..]);
    }

    #[test]
    fn a_broadcast_is_rendered_once_per_key() {
        let chat = chat();
        let frame = encode(&ServerLine::Notice { text: "hello" });
        let mut renderings = Renderings::new(&frame);
        let ours = renderings.get(&Dialect::Desk, &chat).cloned().unwrap();
        assert!(Frame::ptr_eq(&ours, &frame), "our lines go out as they are");
        let seed = renderings.get(&Dialect::Seed, &chat).cloned().unwrap();
        let again = renderings.get(&Dialect::Seed, &chat).cloned().unwrap();
        assert!(
            Frame::ptr_eq(&seed, &again),
            "rendered once for every seed desk"
        );
        assert!(String::from_utf8_lossy(&seed).contains("hello"));
    }
}
