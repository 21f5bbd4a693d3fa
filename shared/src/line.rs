//! Line framing: turns the bytes a socket delivers, in whatever pieces they
//! come, into lines of bounded length.
//!
//! A line ends at `\n`, `\r\n` or a bare `\r` (old terminals, and telnet in
//! some modes, send only `\r`). A `\r\n` counts as one line end even when the
//! two bytes arrive in different reads.
//!
//! A reader can also split on a fixed byte sequence instead
//! ([`LineReader::ending_with`]): the seed project's desks end each message
//! with a colour reset and no newline (see [`crate::seed`]).
//!
//! The reader never holds more than one over-long line's worth of bytes: a line
//! past the limit is reported once as [`Line::TooLong`] and everything up to
//! its line end is dropped as it arrives. It does not decode UTF-8; that is
//! [`crate::sanitize`]'s job.

use std::ops::ControlFlow;

/// One framed line, as handed to the caller of [`LineReader::feed`].
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// A whole line, without its `\n`, `\r\n` or `\r`.
    Complete(&'a [u8]),
    /// A line went past the limit. Reported once per such line; its bytes are
    /// discarded up to and including the next line end.
    TooLong,
}

/// What ends a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// `\n`, `\r\n` or a bare `\r`.
    Newline,
    /// This exact sequence of bytes.
    Sequence(&'static [u8]),
}

impl Ending {
    /// The first line end in `buf`: where it starts and how long it is.
    fn find(self, buf: &[u8]) -> Option<(usize, usize)> {
        match self {
            Ending::Newline => buf
                .iter()
                .position(|&b| b == b'\n' || b == b'\r')
                .map(|at| (at, 1)),
            Ending::Sequence(end) => buf
                .windows(end.len())
                .position(|w| w == end)
                .map(|at| (at, end.len())),
        }
    }

    /// How many bytes at the end of a scanned buffer may be the start of a
    /// line end that the next read completes.
    fn overlap(self) -> usize {
        match self {
            Ending::Newline => 0,
            Ending::Sequence(end) => end.len() - 1,
        }
    }
}

/// Splits a byte stream into lines; one per connection.
#[derive(Debug)]
pub struct LineReader {
    /// Bytes not yet handed out: the start of an unfinished line, or whole
    /// lines left over when the caller paused with `ControlFlow::Break`.
    pending: Vec<u8>,
    /// How much of `pending` is known to hold no line end, so a line dripped
    /// in byte by byte is not rescanned from its start on every byte.
    scanned: usize,
    /// True while dropping the rest of an over-long line.
    discarding: bool,
    /// The last line ended with a `\r` that was the last byte seen, so a `\n`
    /// opening the next input is the second half of a `\r\n`, not an empty
    /// line. (`pending` is always empty while this is set.)
    after_cr: bool,
    /// Longest accepted line, in bytes, without the line ending.
    max_line_bytes: usize,
    /// What ends a line.
    ending: Ending,
}

impl LineReader {
    /// A reader that accepts lines of up to `max_line_bytes` bytes.
    pub fn new(max_line_bytes: usize) -> LineReader {
        LineReader {
            pending: Vec::new(),
            scanned: 0,
            discarding: false,
            after_cr: false,
            max_line_bytes,
            ending: Ending::Newline,
        }
    }

    /// A reader whose lines end with exactly `end` (not empty), and with
    /// nothing else.
    pub fn ending_with(end: &'static [u8], max_line_bytes: usize) -> LineReader {
        assert!(!end.is_empty(), "a line end has at least one byte");
        LineReader {
            ending: Ending::Sequence(end),
            ..LineReader::new(max_line_bytes)
        }
    }

    /// Bytes held back, waiting for the rest of their line or for the caller.
    pub fn buffered_bytes(&self) -> usize {
        self.pending.len()
    }

    /// Takes the bytes held back after the last line handed out (a caller
    /// that stopped with `ControlFlow::Break` to read the rest another
    /// way, as an HTTP request's head).
    pub fn take_buffered(&mut self) -> Vec<u8> {
        self.scanned = 0;
        self.after_cr = false;
        std::mem::take(&mut self.pending)
    }

    /// Changes the longest accepted line, for what comes next (a protocol
    /// whose lines may be longer once it is known).
    pub fn set_max_line_bytes(&mut self, max_line_bytes: usize) {
        self.max_line_bytes = max_line_bytes;
    }

    /// Frees the buffer's memory when it is empty; a connection that sent one
    /// long line should not keep its capacity for ever.
    pub fn shrink(&mut self) {
        if self.pending.is_empty() {
            self.pending = Vec::new();
        }
    }

    /// Feeds `input` and calls `on_line` for each line it completes, in order.
    ///
    /// If `on_line` returns `Break`, the lines not yet handed out are kept and
    /// `feed` returns `Break` at once; call `feed(&[], ..)` later to go on.
    pub fn feed<F>(&mut self, mut input: &[u8], mut on_line: F) -> ControlFlow<()>
    where
        F: FnMut(Line<'_>) -> ControlFlow<()>,
    {
        if self.after_cr && !input.is_empty() {
            // An empty input (resuming after `Break`) says nothing yet about
            // the byte after the `\r`; keep waiting for it.
            self.after_cr = false;
            input = input.strip_prefix(b"\n").unwrap_or(input);
        }
        if self.pending.is_empty() {
            // The common case: whole lines straight from the caller's buffer,
            // no copy.
            let (consumed, flow) = self.split(input, 0, &mut on_line);
            self.keep(&input[consumed..]);
            return flow;
        }
        let scan_from = self.scanned.saturating_sub(self.ending.overlap());
        self.pending.extend_from_slice(input);
        let pending = std::mem::take(&mut self.pending);
        let (consumed, flow) = self.split(&pending, scan_from, &mut on_line);
        self.pending = pending;
        self.pending.drain(..consumed);
        self.scanned = if flow.is_break() {
            0
        } else {
            self.pending.len()
        };
        flow
    }

    /// Hands out the lines in `buf`, looking for the first line end from
    /// `scan_from`. Returns how many bytes were used up.
    fn split<F>(
        &mut self,
        buf: &[u8],
        scan_from: usize,
        on_line: &mut F,
    ) -> (usize, ControlFlow<()>)
    where
        F: FnMut(Line<'_>) -> ControlFlow<()>,
    {
        let mut start = 0;
        let mut search_from = scan_from;
        while let Some((offset, ending_len)) = self.ending.find(&buf[search_from..]) {
            let end = search_from + offset;
            let line = &buf[start..end];
            let flow = if std::mem::take(&mut self.discarding) {
                // The tail of a line already reported as too long.
                ControlFlow::Continue(())
            } else if line.len() > self.max_line_bytes {
                on_line(Line::TooLong)
            } else {
                on_line(Line::Complete(line))
            };
            start = end + ending_len;
            if self.ending == Ending::Newline && buf[end] == b'\r' {
                match buf.get(start) {
                    Some(b'\n') => start += 1,
                    Some(_) => {}
                    // Whether a `\n` follows is up to the next read.
                    None => self.after_cr = true,
                }
            }
            search_from = start;
            if flow.is_break() {
                return (start, flow);
            }
        }
        let unfinished = buf.len() - start;
        // Bytes that may begin a line end the next read completes.
        let undecided = self.ending.overlap().min(unfinished);
        if self.discarding {
            return (buf.len() - undecided, ControlFlow::Continue(()));
        }
        if unfinished > self.max_line_bytes {
            // No line end can make this line acceptable; drop it now rather
            // than hold it (the anti-spin, anti-bloat rule).
            self.discarding = true;
            return (buf.len() - undecided, on_line(Line::TooLong));
        }
        (start, ControlFlow::Continue(()))
    }

    fn keep(&mut self, rest: &[u8]) {
        self.pending.extend_from_slice(rest);
        self.scanned = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds each chunk in turn and records what comes out.
    fn lines_from(max: usize, chunks: &[&[u8]]) -> Vec<Option<Vec<u8>>> {
        read_all(LineReader::new(max), chunks)
    }

    /// Like [`lines_from`], for a reader whose lines end with `END`.
    fn frames_from(max: usize, chunks: &[&[u8]]) -> Vec<Option<Vec<u8>>> {
        read_all(LineReader::ending_with(b"END", max), chunks)
    }

    /// Feeds `reader` each chunk in turn; a line is `Some`, `TooLong` `None`.
    fn read_all(mut reader: LineReader, chunks: &[&[u8]]) -> Vec<Option<Vec<u8>>> {
        let mut out = Vec::new();
        for chunk in chunks {
            let _ = reader.feed(chunk, |line| {
                out.push(match line {
                    Line::Complete(bytes) => Some(bytes.to_vec()),
                    Line::TooLong => None,
                });
                ControlFlow::Continue(())
            });
        }
        out
    }

    fn some(s: &str) -> Option<Vec<u8>> {
        Some(s.as_bytes().to_vec())
    }

    #[test]
    fn the_rest_after_a_break_can_be_taken() {
        let mut reader = LineReader::new(100);
        let mut first = Vec::new();
        let flow = reader.feed(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", |line| {
            if let Line::Complete(bytes) = line {
                first = bytes.to_vec();
            }
            ControlFlow::Break(())
        });
        assert!(flow.is_break());
        assert_eq!(first, b"GET / HTTP/1.1");
        assert_eq!(reader.take_buffered(), b"Host: x\r\n\r\n");
        assert_eq!(reader.buffered_bytes(), 0);
    }

    #[test]
    fn a_longer_limit_applies_to_what_comes_next() {
        let mut reader = LineReader::new(4);
        reader.set_max_line_bytes(8);
        assert_eq!(read_all(reader, &[b"12345678\n"]), vec![some("12345678")]);
    }

    #[test]
    fn one_line() {
        assert_eq!(lines_from(100, &[b"hello\n"]), vec![some("hello")]);
    }

    #[test]
    fn empty_line() {
        assert_eq!(lines_from(100, &[b"\n"]), vec![some("")]);
    }

    #[test]
    fn crlf_is_stripped() {
        assert_eq!(lines_from(100, &[b"a\r\nb\n"]), vec![some("a"), some("b")]);
    }

    #[test]
    fn no_newline_yet_gives_nothing() {
        assert_eq!(lines_from(100, &[b"partial"]), vec![]);
    }

    #[test]
    fn line_split_across_reads() {
        assert_eq!(
            lines_from(100, &[b"hel", b"lo\nwor", b"ld\n"]),
            vec![some("hello"), some("world")]
        );
    }

    #[test]
    fn bytes_dripped_one_at_a_time() {
        let text = b"drip drop\nsecond\n";
        let chunks: Vec<&[u8]> = text.chunks(1).collect();
        assert_eq!(
            lines_from(100, &chunks),
            vec![some("drip drop"), some("second")]
        );
    }

    #[test]
    fn line_at_limit() {
        assert_eq!(lines_from(5, &[b"12345\n"]), vec![some("12345")]);
    }

    #[test]
    fn line_at_limit_with_crlf() {
        assert_eq!(lines_from(5, &[b"12345\r\n"]), vec![some("12345")]);
    }

    #[test]
    fn line_over_limit_in_one_read() {
        assert_eq!(lines_from(5, &[b"123456\nok\n"]), vec![None, some("ok")]);
    }

    #[test]
    fn endless_line_is_reported_once_and_never_buffered() {
        let mut reader = LineReader::new(10);
        let mut too_long = 0;
        for _ in 0..1000 {
            let _ = reader.feed(&[b'x'; 1024], |line| {
                assert_eq!(line, Line::TooLong);
                too_long += 1;
                ControlFlow::Continue(())
            });
            assert!(reader.buffered_bytes() <= 10);
        }
        assert_eq!(too_long, 1);
        let mut after = Vec::new();
        let _ = reader.feed(b"tail\nnext\n", |line| {
            after.push(format!("{line:?}"));
            ControlFlow::Continue(())
        });
        assert_eq!(after, vec![format!("{:?}", Line::Complete(b"next"))]);
    }

    #[test]
    fn over_limit_line_split_across_reads() {
        assert_eq!(
            lines_from(5, &[b"123", b"456", b"789\nok\n"]),
            vec![None, some("ok")]
        );
    }

    #[test]
    fn break_keeps_the_rest_for_later() {
        let mut reader = LineReader::new(100);
        let mut seen = Vec::new();
        let flow = reader.feed(b"a\nb\nc", |line| {
            seen.push(format!("{line:?}"));
            ControlFlow::Break(())
        });
        assert!(flow.is_break());
        assert_eq!(seen.len(), 1);
        let mut rest = Vec::new();
        let flow = reader.feed(b"\n", |line| {
            if let Line::Complete(bytes) = line {
                rest.push(bytes.to_vec());
            }
            ControlFlow::Continue(())
        });
        assert!(flow.is_continue());
        assert_eq!(rest, vec![b"b".to_vec(), b"c".to_vec()]);
    }

    #[test]
    fn bare_cr_ends_a_line() {
        assert_eq!(lines_from(100, &[b"a\rb\r"]), vec![some("a"), some("b")]);
    }

    #[test]
    fn crlf_split_across_reads_is_one_line_end() {
        assert_eq!(
            lines_from(100, &[b"a\r", b"\nb\n"]),
            vec![some("a"), some("b")]
        );
    }

    #[test]
    fn cr_cr_gives_an_empty_line() {
        assert_eq!(
            lines_from(100, &[b"a\r\rb\n"]),
            vec![some("a"), some(""), some("b")]
        );
    }

    #[test]
    fn lf_cr_is_two_line_ends() {
        // Only `\r\n` pairs up; `\n\r` is a line end and then another.
        assert_eq!(
            lines_from(100, &[b"a\n\rb\n"]),
            vec![some("a"), some(""), some("b")]
        );
    }

    #[test]
    fn mixed_line_endings() {
        assert_eq!(
            lines_from(100, &[b"a\nb\r\nc\rd\n"]),
            vec![some("a"), some("b"), some("c"), some("d")]
        );
    }

    #[test]
    fn lone_lf_after_a_split_cr_is_swallowed_only_once() {
        assert_eq!(
            lines_from(100, &[b"a\r", b"\n", b"\n"]),
            vec![some("a"), some("")]
        );
    }

    #[test]
    fn line_at_limit_with_crlf_split_across_reads() {
        assert_eq!(lines_from(5, &[b"12345\r", b"\n"]), vec![some("12345")]);
    }

    #[test]
    fn over_limit_line_ended_by_cr() {
        assert_eq!(lines_from(5, &[b"123456\rok\r"]), vec![None, some("ok")]);
    }

    #[test]
    fn over_limit_line_split_across_reads_ended_by_split_crlf() {
        assert_eq!(
            lines_from(5, &[b"123", b"456789\r", b"\nok\n"]),
            vec![None, some("ok")]
        );
    }

    #[test]
    fn crlf_and_cr_dripped_one_byte_at_a_time() {
        let text = b"a\r\nb\r";
        let chunks: Vec<&[u8]> = text.chunks(1).collect();
        assert_eq!(lines_from(100, &chunks), vec![some("a"), some("b")]);
    }

    #[test]
    fn break_after_cr_line_then_lf_arrives_later() {
        let mut reader = LineReader::new(100);
        let mut seen = Vec::new();
        let flow = reader.feed(b"a\r", |line| {
            seen.push(format!("{line:?}"));
            ControlFlow::Break(())
        });
        assert!(flow.is_break());
        let mut rest = Vec::new();
        let mut collect = |line: Line<'_>| {
            if let Line::Complete(bytes) = line {
                rest.push(bytes.to_vec());
            }
            ControlFlow::Continue(())
        };
        // Resuming with nothing new must not forget the `\r`.
        assert!(reader.feed(&[], &mut collect).is_continue());
        assert!(reader.feed(b"\nb\n", &mut collect).is_continue());
        assert_eq!(seen, vec![format!("{:?}", Line::Complete(b"a"))]);
        assert_eq!(rest, vec![b"b".to_vec()]);
    }

    #[test]
    fn break_between_cr_and_lf_in_one_read() {
        let mut reader = LineReader::new(100);
        let flow = reader.feed(b"a\r\nb\n", |_| ControlFlow::Break(()));
        assert!(flow.is_break());
        assert_eq!(reader.buffered_bytes(), 2, "only `b\\n` is left");
        let mut rest = Vec::new();
        let _ = reader.feed(&[], |line| {
            rest.push(format!("{line:?}"));
            ControlFlow::Continue(())
        });
        assert_eq!(rest, vec![format!("{:?}", Line::Complete(b"b"))]);
    }

    #[test]
    fn sequence_ends_frames_and_newlines_do_not() {
        assert_eq!(
            frames_from(100, &[b"a\nbENDcEND"]),
            vec![some("a\nb"), some("c")]
        );
    }

    #[test]
    fn sequence_split_across_reads() {
        assert_eq!(
            frames_from(100, &[b"oneE", b"N", b"Dtw", b"oEND"]),
            vec![some("one"), some("two")]
        );
    }

    #[test]
    fn sequence_dripped_byte_by_byte() {
        let text = b"dripENDdropEND";
        let chunks: Vec<&[u8]> = text.chunks(1).collect();
        assert_eq!(frames_from(100, &chunks), vec![some("drip"), some("drop")]);
    }

    #[test]
    fn endless_frame_is_reported_once_and_the_next_one_survives() {
        let mut chunks: Vec<&[u8]> = vec![&[b'x'; 64]; 100];
        chunks.push(b"tailE");
        chunks.push(b"NDnextEND");
        assert_eq!(frames_from(10, &chunks), vec![None, some("next")]);
    }

    #[test]
    fn invalid_utf8_passes_through_as_bytes() {
        assert_eq!(
            lines_from(100, &[b"\xff\xfe\n"]),
            vec![Some(vec![0xff, 0xfe])]
        );
    }
}
