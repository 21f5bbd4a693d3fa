//! How a connection's bytes become the rules' [`Input`], and how a server
//! line becomes the bytes that connection is sent: one [`Framing`] per
//! connection, whose [`Dialect`] is decided by the first byte the peer
//! sends.
//!
//! | dialect | told by | a line ends at | it is sent |
//! |---|---|---|---|
//! | [`Dialect::Undecided`] | nothing sent yet | a newline | our lines, as `nc` and the load tools expect from the start |
//! | [`Dialect::Desk`] | any first byte but ESC | a newline | our lines |
//! | [`Dialect::Seed`] | ESC | colorama's reset | what the seed server relayed ([`chat_shared::seed`]) |
//!
//! The rules speak our protocol only: every [`Frame`] is one of our lines.
//! A dialect decodes its lines into [`Input`] ([`Dialect::decode`]) and
//! renders our lines for its peer ([`Dialect::render`]); a broadcast is
//! rendered once per dialect, not once per connection ([`Renderings`]). A
//! new dialect is a variant here with an arm in each of those.

use std::ops::ControlFlow;

use chat_shared::seed::{self, FRAME_END};
use chat_shared::{ClientLine, Line, LineReader, ServerLine};

use crate::chat::Input;
use crate::frames::Frame;

/// Which protocol a peer speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// It has sent nothing yet: it gets our lines.
    Undecided,
    /// Our line protocol.
    Desk,
    /// The seed project's Python desk ([`chat_shared::seed`]).
    Seed,
}

impl Dialect {
    /// The dialect a peer whose first byte is `first` speaks.
    fn of_first_byte(first: u8) -> Dialect {
        if seed::is_seed_desk(first) {
            Dialect::Seed
        } else {
            Dialect::Desk
        }
    }

    /// Decodes one line of this dialect and hands it to `handle`. Bytes
    /// that are not UTF-8 are replaced, never fatal.
    pub fn decode<R>(self, line: Line<'_>, handle: impl FnOnce(Input<'_>) -> R) -> R {
        let bytes = match line {
            Line::Complete(bytes) => bytes,
            Line::TooLong => return handle(Input::TooLong),
        };
        let text = String::from_utf8_lossy(bytes);
        match self {
            Dialect::Seed => handle(Input::Seed(seed::parse_frame(&text))),
            Dialect::Undecided | Dialect::Desk => handle(Input::Line(ClientLine::parse(&text))),
        }
    }

    /// Our line `frame` as this dialect's peer is sent it, or `None` when
    /// the peer has no use for it.
    pub fn render(self, frame: &Frame) -> Option<Frame> {
        match self {
            Dialect::Undecided | Dialect::Desk => Some(frame.clone()),
            Dialect::Seed => for_seed_desk(frame),
        }
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
}

impl Framing {
    /// A connection's framing before its peer has sent anything.
    pub fn new(max_line_bytes: usize) -> Framing {
        Framing {
            dialect: Dialect::Undecided,
            reader: LineReader::new(max_line_bytes),
            max_line_bytes,
        }
    }

    /// The protocol the peer speaks.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Feeds bytes just read (deciding the dialect on the first), calling
    /// `on_line` for each line they complete, in order, with the dialect to
    /// decode it in. `Break` from `on_line` keeps the rest for
    /// [`Framing::resume`].
    pub fn feed(
        &mut self,
        bytes: &[u8],
        mut on_line: impl FnMut(Dialect, Line<'_>) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        if self.dialect == Dialect::Undecided {
            if let Some(&first) = bytes.first() {
                self.dialect = Dialect::of_first_byte(first);
                if self.dialect == Dialect::Seed {
                    self.reader = LineReader::ending_with(FRAME_END, self.max_line_bytes);
                }
            }
        }
        let dialect = self.dialect;
        self.reader.feed(bytes, |line| on_line(dialect, line))
    }

    /// Hands out lines held back by an earlier `Break`, if any.
    pub fn resume(
        &mut self,
        on_line: impl FnMut(Dialect, Line<'_>) -> ControlFlow<()>,
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

/// One broadcast frame, rendered for each dialect the first time a member
/// speaking it is sent the frame.
#[derive(Debug)]
pub struct Renderings<'a> {
    ours: &'a Frame,
    seed: Option<Option<Frame>>,
}

impl<'a> Renderings<'a> {
    /// Renderings of `ours`, none made yet.
    pub fn new(ours: &'a Frame) -> Renderings<'a> {
        Renderings { ours, seed: None }
    }

    /// The frame as `dialect` is sent it, or `None` when it has no use for
    /// it.
    pub fn get(&mut self, dialect: Dialect) -> Option<&Frame> {
        match dialect {
            Dialect::Undecided | Dialect::Desk => Some(self.ours),
            Dialect::Seed => self
                .seed
                .get_or_insert_with(|| dialect.render(self.ours))
                .as_ref(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frames::encode;

    fn lines(framing: &mut Framing, bytes: &[u8]) -> Vec<(Dialect, String)> {
        let mut out = Vec::new();
        let _ = framing.feed(bytes, |dialect, line| {
            let text = match line {
                Line::Complete(bytes) => String::from_utf8_lossy(bytes).into_owned(),
                Line::TooLong => "(too long)".to_string(),
            };
            out.push((dialect, text));
            ControlFlow::Continue(())
        });
        out
    }

    #[test]
    fn a_desk_is_told_by_its_first_byte() {
        let mut framing = Framing::new(64);
        assert_eq!(framing.dialect(), Dialect::Undecided);
        assert_eq!(
            lines(&mut framing, b"alice<SEP>hi\n"),
            [(Dialect::Desk, "alice<SEP>hi".to_string())]
        );
    }

    #[test]
    fn a_seed_desk_is_told_by_escape_and_framed_by_the_colour_reset() {
        let mut framing = Framing::new(64);
        let got = lines(&mut framing, b"\x1b[34m[t] old<SEP>hi\x1b[39m");
        assert_eq!(got, [(Dialect::Seed, "\x1b[34m[t] old<SEP>hi".to_string())]);
    }

    #[test]
    fn the_first_byte_decides_once() {
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
                (Dialect::Desk, "(too long)".to_string()),
                (Dialect::Desk, "ok".to_string())
            ]
        );
    }

    #[test]
    fn desk_lines_decode_as_our_protocol() {
        let parsed = Dialect::Desk.decode(Line::Complete(b"/who"), |input| {
            matches!(input, Input::Line(Ok(ClientLine::Who)))
        });
        assert!(parsed);
    }

    #[test]
    fn a_broadcast_is_rendered_once_per_dialect() {
        let frame = encode(&ServerLine::Notice { text: "hello" });
        let mut renderings = Renderings::new(&frame);
        let ours = renderings.get(Dialect::Desk).cloned().unwrap();
        assert!(Frame::ptr_eq(&ours, &frame), "our lines go out as they are");
        let seed = renderings.get(Dialect::Seed).cloned().unwrap();
        let again = renderings.get(Dialect::Seed).cloned().unwrap();
        assert!(
            Frame::ptr_eq(&seed, &again),
            "rendered once for every seed desk"
        );
        assert!(String::from_utf8_lossy(&seed).contains("hello"));
    }
}
