//! How a connection's bytes become what the rules act on, and how a server
//! line becomes the bytes that connection is sent: one [`Framing`] per
//! connection, whose [`Dialect`] is decided by what the peer sends first.
//!
//! | dialect | told by | a line ends at | it is sent |
//! |---|---|---|---|
//! | [`Dialect::Undecided`] | nothing sent yet | a newline | nothing yet: our lines wait ([`Dialect::holds_output`]) |
//! | [`Dialect::Desk`] | a first line of our protocol, or silence | a newline | our lines |
//! | [`Dialect::Seed`] | ESC as the first byte | colorama's reset | what the seed server relayed ([`chat_shared::seed`]) |
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

use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use chat_shared::seed::{self, FRAME_END};
use chat_shared::{ClientLine, Line, LineReader, ServerLine};

use crate::chat::{Chat, Input};
use crate::close::AfterLine;
use crate::effect::Effect;
use crate::frames::Frame;
use crate::ids::Asker;

/// How long a connection may say nothing before it counts as one of our
/// desks and gets what waited for it. Every client of another protocol
/// sends its first line at once (IRC clients within a few milliseconds).
pub const DECIDE_AFTER: Duration = Duration::from_millis(250);

/// Which protocol a peer speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// It has sent no line yet: what the rules send it waits.
    Undecided,
    /// Our line protocol.
    Desk,
    /// The seed project's Python desk ([`chat_shared::seed`]).
    Seed,
}

/// What one line from a peer goes to the rules with.
pub struct Context<'a> {
    /// The rules.
    pub chat: &'a mut Chat,
    /// Who sent it.
    pub from: Asker,
    /// Where from.
    pub peer: SocketAddr,
    /// When it was read.
    pub now: Instant,
    /// Where the rules put what it causes.
    pub effects: &'a mut Vec<Effect>,
}

/// Which connections share a broadcast's rendering: those whose dialect
/// (and its options) gives the same bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderKey(u32);

impl RenderKey {
    const OURS: RenderKey = RenderKey(0);
    const SEED: RenderKey = RenderKey(1);
}

impl Dialect {
    /// The dialect of a peer whose first line is `line`.
    fn of_first_line(_line: &[u8]) -> Dialect {
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
        let bytes = match line {
            Line::Complete(bytes) => bytes,
            Line::TooLong => return cx.handle(Input::TooLong),
        };
        let text = String::from_utf8_lossy(bytes);
        match self {
            Dialect::Seed => cx.handle(Input::Seed(seed::parse_frame(&text))),
            Dialect::Undecided | Dialect::Desk => cx.handle(Input::Line(ClientLine::parse(&text))),
        }
    }

    /// Our line `frame` as this connection's peer is sent it, or `None`
    /// when the peer has no use for it. `chat` is there for a dialect that
    /// needs to know more than the line says.
    pub fn render(&self, frame: &Frame, _chat: &Chat) -> Option<Frame> {
        match self {
            Dialect::Undecided | Dialect::Desk => Some(frame.clone()),
            Dialect::Seed => for_seed_desk(frame),
        }
    }

    /// Which connections get the same bytes for a broadcast as this one.
    pub fn render_key(&self) -> RenderKey {
        match self {
            Dialect::Undecided | Dialect::Desk => RenderKey::OURS,
            Dialect::Seed => RenderKey::SEED,
        }
    }

    /// Whether the peer wants its own messages back (every desk of ours
    /// does: its copy is how it knows the room has the message).
    pub fn takes_own_copy(&self) -> bool {
        true
    }

    /// Whether the peer is in the rooms (and gets their broadcasts) as soon
    /// as it is let in, before it says anything.
    pub fn in_rooms_at_once(&self) -> bool {
        matches!(self, Dialect::Undecided | Dialect::Desk | Dialect::Seed)
    }
}

impl Context<'_> {
    fn handle(&mut self, input: Input<'_>) -> AfterLine {
        self.chat
            .handle(self.from, self.peer, self.now, input, self.effects)
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
    /// Splits the peer's bytes into lines (or a seed desk's frames).
    reader: LineReader,
    /// `--max-line`, for the reader made once the dialect is known.
    max_line_bytes: usize,
    /// Whether the peer's own bytes said what it speaks (its first line,
    /// or a seed desk's first byte). Until then a peer taken for one of
    /// our desks because it was silent may still turn out to be another:
    /// a seed desk's user types a name before its first frame.
    said: bool,
}

impl Framing {
    /// A connection's framing before its peer has sent anything.
    pub fn new(max_line_bytes: usize) -> Framing {
        Framing {
            dialect: Dialect::Undecided,
            reader: LineReader::new(max_line_bytes),
            max_line_bytes,
            said: false,
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
        if self.dialect == Dialect::Undecided {
            self.dialect = Dialect::Desk;
        }
    }

    /// Feeds bytes just read, calling `on_line` for each line they complete,
    /// in order, with the dialect to hand it to (decided on the first byte
    /// for a seed desk, on the first line otherwise, even if the peer was
    /// taken for a desk while it was silent). `Break` from `on_line` keeps
    /// the rest for [`Framing::resume`].
    pub fn feed(
        &mut self,
        bytes: &[u8],
        mut on_line: impl FnMut(&mut Dialect, Line<'_>) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        if !self.said && self.reader.buffered_bytes() == 0 {
            if let Some(&first) = bytes.first() {
                if seed::is_seed_desk(first) {
                    self.dialect = Dialect::Seed;
                    self.said = true;
                    self.reader = LineReader::ending_with(FRAME_END, self.max_line_bytes);
                }
            }
        }
        let Framing {
            dialect,
            reader,
            said,
            ..
        } = self;
        reader.feed(bytes, |line| {
            if !*said {
                if let Line::Complete(first) = &line {
                    *dialect = Dialect::of_first_line(first);
                    *said = true;
                }
            }
            on_line(dialect, line)
        })
    }

    /// Hands out lines held back by an earlier `Break`, if any.
    pub fn resume(
        &mut self,
        on_line: impl FnMut(&mut Dialect, Line<'_>) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        if self.reader.buffered_bytes() == 0 {
            return ControlFlow::Continue(());
        }
        self.feed(&[], on_line)
    }

    /// Frees the reader's buffer when it holds nothing.
    pub fn shrink(&mut self) {
        self.reader.shrink();
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
    use crate::chat::Settings;
    use crate::frames::encode;

    fn lines(framing: &mut Framing, bytes: &[u8]) -> Vec<(Dialect, String)> {
        let mut out = Vec::new();
        let _ = framing.feed(bytes, |dialect, line| {
            let text = match line {
                Line::Complete(bytes) => String::from_utf8_lossy(bytes).into_owned(),
                Line::TooLong => "(too long)".to_string(),
            };
            out.push((*dialect, text));
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
        let mut framing = Framing::new(64);
        assert_eq!(framing.dialect(), &Dialect::Undecided);
        assert!(framing.dialect().holds_output());
        lines(&mut framing, b"alice<SEP>h");
        assert_eq!(framing.dialect(), &Dialect::Undecided, "no line yet");
        assert_eq!(
            lines(&mut framing, b"i\n"),
            [(Dialect::Desk, "alice<SEP>hi".to_string())]
        );
        assert!(!framing.dialect().holds_output());
    }

    #[test]
    fn a_silent_peer_is_one_of_ours() {
        let mut framing = Framing::new(64);
        framing.decide_silent();
        assert_eq!(framing.dialect(), &Dialect::Desk);
    }

    #[test]
    fn a_seed_desk_taken_for_a_desk_while_silent_is_a_seed_desk_when_it_speaks() {
        let mut framing = Framing::new(64);
        framing.decide_silent();
        assert!(!framing.dialect_said());
        let got = lines(&mut framing, b"\x1b[34m[t] old<SEP>hi\x1b[39m");
        assert_eq!(got, [(Dialect::Seed, "\x1b[34m[t] old<SEP>hi".to_string())]);
        assert!(framing.dialect_said());
    }

    #[test]
    fn a_seed_desk_is_told_by_escape_and_framed_by_the_colour_reset() {
        let mut framing = Framing::new(64);
        let got = lines(&mut framing, b"\x1b[34m[t] old<SEP>hi\x1b[39m");
        assert_eq!(got, [(Dialect::Seed, "\x1b[34m[t] old<SEP>hi".to_string())]);
    }

    #[test]
    fn the_first_line_decides_once() {
        let mut framing = Framing::new(64);
        lines(&mut framing, b"/who\n");
        let got = lines(&mut framing, b"\x1b[34m hi\n");
        assert_eq!(got[0].0, Dialect::Desk);
    }

    #[test]
    fn a_line_over_the_limit_is_reported() {
        let mut framing = Framing::new(8);
        assert_eq!(
            lines(&mut framing, b"0123456789\nok\n"),
            [
                (Dialect::Undecided, "(too long)".to_string()),
                (Dialect::Desk, "ok".to_string())
            ]
        );
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
