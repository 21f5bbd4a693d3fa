//! The marker each load message carries, so a receiver can tell its own run's
//! messages apart and time them: `~L<run>:<seq>:<sender>:<sent-micros>~`,
//! padded with letters to the payload size.
//!
//! This module builds message texts and classifies received server lines. It
//! does not frame lines (that is `chat_shared::LineReader`) nor parse the
//! protocol (that is `chat_shared::ServerLine`); it only looks inside TEXT,
//! and keeps what a load client needs of the rest: message IDs, the log's
//! epoch, the answer to `/resume`.

use std::fmt::Write as _;

use chat_shared::{ErrorCode, MessageId, ServerLine};

/// Filler after the marker. Letters only: the server leaves them alone and
/// they can never be mistaken for the `~` that opens a marker.
const FILLER: &[u8] = b"abcdefghijklmnopqrstuvwxyz";

/// What a marked message is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Counted: in deliveries, latency and `hold.alive`.
    Measured,
    /// The warm-up probe that tells each client the server has registered it;
    /// never counted.
    Probe,
}

impl Kind {
    fn letter(self) -> char {
        match self {
            Kind::Measured => 'L',
            Kind::Probe => 'P',
        }
    }
}

/// The facts a message carries about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marker {
    /// Measured or probe.
    pub kind: Kind,
    /// This run's id, so messages of an earlier run (history replay, or a run
    /// that overlapped) are ignored.
    pub run: u32,
    /// Global send order within the run, from one shared counter; decides
    /// whether a receiver's delivery window covers this message.
    pub seq: u64,
    /// Index of the sending client.
    pub sender: u32,
    /// Send time, in microseconds since the run's epoch (one `Instant` shared
    /// by all threads, so sender and receiver clocks agree).
    pub sent_us: u64,
}

impl Marker {
    /// Appends the message TEXT to `out`: the marker, then filler so that
    /// the text is exactly `payload_bytes` long. If the marker alone is
    /// longer, the text is the bare marker.
    pub fn write_text(&self, payload_bytes: usize, out: &mut String) {
        let start = out.len();
        write!(
            out,
            "~{}{:08x}:{}:{}:{}~",
            self.kind.letter(),
            self.run,
            self.seq,
            self.sender,
            self.sent_us
        )
        .expect("writing to a String cannot fail");
        let written = out.len() - start;
        let fill = payload_bytes.saturating_sub(written);
        out.extend(FILLER.iter().cycle().take(fill).map(|&b| b as char));
    }
}

/// Finds this run's marker in a message text. Returns `None` for text from
/// anyone else, or from another run.
pub fn scan(text: &str, run: u32) -> Option<Marker> {
    let mut rest = text;
    while let Some(at) = rest.find('~') {
        rest = &rest[at + 1..];
        if let Some(marker) = parse_after_tilde(rest) {
            return (marker.run == run).then_some(marker);
        }
    }
    None
}

/// Parses `L<run>:<seq>:<sender>:<us>~` (the part after the opening `~`).
fn parse_after_tilde(text: &str) -> Option<Marker> {
    let kind = match text.as_bytes().first()? {
        b'L' => Kind::Measured,
        b'P' => Kind::Probe,
        _ => return None,
    };
    let body = &text[1..text.find('~')?];
    let mut fields = body.split(':');
    let run = u32::from_str_radix(fields.next()?, 16).ok()?;
    let seq = fields.next()?.parse().ok()?;
    let sender = fields.next()?.parse().ok()?;
    let sent_us = fields.next()?.parse().ok()?;
    if fields.next().is_some() {
        return None;
    }
    Some(Marker {
        kind,
        run,
        seq,
        sender,
        sent_us,
    })
}

/// The name of room `room` of run `run` (`--rooms`): `#load-<run>-<room>`,
/// so that two runs never share a room, and a room's name says whose it is.
pub fn room_name(run: u32, room: usize) -> String {
    format!("#load-{run:08x}-{room}")
}

/// Which room of run `run` the room `name` is, if it is one.
pub fn room_index(name: &str, run: u32) -> Option<usize> {
    let rest = name.strip_prefix("#load-")?;
    let (owner, room) = rest.split_once('-')?;
    if owner.len() != 8 || u32::from_str_radix(owner, 16).ok()? != run {
        return None;
    }
    // Only the spelling `room_name` writes: no sign, no leading zero.
    let index: usize = room.parse().ok()?;
    (index.to_string() == room).then_some(index)
}

/// A message line as the load generator sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// Its place in the room's log.
    pub id: MessageId,
    /// This run's marker, if the text has one.
    pub marker: Option<Marker>,
}

/// What one received line means to the load generator.
#[derive(Debug, PartialEq, Eq)]
pub enum Seen {
    /// A live `MSG`: a message of `#main`.
    Msg(Delivery),
    /// A live `RMSG`: a message of another room than `#main`.
    RoomMsg {
        /// Which of this run's rooms it is in; `None` for any other room.
        room: Option<usize>,
        /// The message.
        delivery: Delivery,
    },
    /// `INROOM`: this connection is in a room.
    InRoom {
        /// Which of this run's rooms; `None` for any other room.
        room: Option<usize>,
    },
    /// A `HIST`: the recent history on connect, or what a `/resume` missed.
    Hist(Delivery),
    /// `WELCOME`: the connection has its name; EPOCH names the room's log.
    Welcome {
        /// The log's epoch, for a later `/resume`.
        epoch: String,
    },
    /// `RESUME`: the answer to `/resume`; the replay follows.
    Resumed {
        /// The server's log; another epoch than asked means another log.
        epoch: String,
        /// Missed messages too many to replay.
        skipped: u64,
    },
    /// `PONG`: everything sent before the `/ping` has been answered.
    Pong,
    /// `ERR`: the server refused something we sent.
    Refused(ErrorCode),
    /// An IRC error numeric (`433 Nickname is already in use`): the server
    /// refused something an IRC desk sent.
    IrcRefused(String),
    /// `BYE`: the server is closing this connection, with its reason.
    Bye(String),
    /// Anything else (`JOIN`, `LEAVE`, `WHO`, `NOTE`), or a line that does
    /// not parse.
    Other,
}

/// Classifies one framed line (without its newline).
pub fn classify(line: &[u8], run: u32) -> Seen {
    let Ok(text) = std::str::from_utf8(line) else {
        return Seen::Other;
    };
    let delivery = |id, text| Delivery {
        id,
        marker: scan(text, run),
    };
    match ServerLine::parse(text) {
        Ok(ServerLine::Msg(chat)) => Seen::Msg(delivery(chat.id, chat.text)),
        Ok(ServerLine::RoomMsg(message)) => Seen::RoomMsg {
            room: room_index(message.room, run),
            delivery: delivery(message.chat.id, message.chat.text),
        },
        Ok(ServerLine::InRoom(info)) => Seen::InRoom {
            room: room_index(info.room, run),
        },
        Ok(ServerLine::History(chat)) => Seen::Hist(delivery(chat.id, chat.text)),
        Ok(ServerLine::Welcome { epoch, .. }) => Seen::Welcome {
            epoch: epoch.to_string(),
        },
        Ok(ServerLine::Resumed { epoch, skipped, .. }) => Seen::Resumed {
            epoch: epoch.to_string(),
            skipped,
        },
        Ok(ServerLine::Pong) => Seen::Pong,
        Ok(ServerLine::Error { code, .. }) => Seen::Refused(code),
        Ok(ServerLine::Bye { reason }) => Seen::Bye(reason.to_string()),
        _ => Seen::Other,
    }
}

#[cfg(test)]
mod tests {
    use std::ops::ControlFlow;

    use chat_shared::{Line, LineReader, DEFAULT_MAX_LINE_BYTES};

    use super::*;

    fn sample(kind: Kind) -> Marker {
        Marker {
            kind,
            run: 0xabc123,
            seq: 42,
            sender: 7,
            sent_us: 1_234_567,
        }
    }

    fn text_of(marker: Marker, payload: usize) -> String {
        let mut out = String::new();
        marker.write_text(payload, &mut out);
        out
    }

    #[test]
    fn text_is_exactly_payload_bytes() {
        for payload in [40, 41, 64, 100, 1000, 4000] {
            assert_eq!(text_of(sample(Kind::Measured), payload).len(), payload);
        }
    }

    #[test]
    fn short_payload_sends_the_bare_marker() {
        let text = text_of(sample(Kind::Measured), 16);
        assert_eq!(text, "~L00abc123:42:7:1234567~");
    }

    #[test]
    fn marker_round_trips() {
        for kind in [Kind::Measured, Kind::Probe] {
            let text = text_of(sample(kind), 200);
            assert_eq!(scan(&text, 0xabc123), Some(sample(kind)));
        }
    }

    #[test]
    fn other_runs_are_ignored() {
        let text = text_of(sample(Kind::Measured), 64);
        assert_eq!(scan(&text, 0x999), None);
    }

    #[test]
    fn human_text_has_no_marker() {
        assert_eq!(scan("hello ~ there ~Lzz~", 0xabc123), None);
        assert_eq!(scan("", 1), None);
    }

    #[test]
    fn marker_after_stray_tilde_is_found() {
        let text = format!("~x {}", text_of(sample(Kind::Measured), 0));
        assert_eq!(scan(&text, 0xabc123), Some(sample(Kind::Measured)));
    }

    #[test]
    fn classify_msg_line() {
        let text = text_of(sample(Kind::Measured), 64);
        let line =
            format!("MSG<SEP>17<SEP>2026-01-01T00:00:00.000Z<SEP>load-1-7<SEP>red<SEP>{text}");
        assert_eq!(
            classify(line.as_bytes(), 0xabc123),
            Seen::Msg(Delivery {
                id: MessageId::from_sequence(17),
                marker: Some(sample(Kind::Measured)),
            })
        );
    }

    #[test]
    fn room_names_name_their_run_and_room() {
        let name = room_name(0xabc123, 17);
        assert_eq!(name, "#load-00abc123-17");
        assert_eq!(room_index(&name, 0xabc123), Some(17));
        assert_eq!(room_index(&name, 0xabc124), None);
        for other in [
            "#dev",
            "#main",
            "#load-00abc123-",
            "#load-00abc123-017",
            "#load-abc123-1",
        ] {
            assert_eq!(room_index(other, 0xabc123), None, "{other}");
        }
    }

    #[test]
    fn classify_room_lines() {
        let text = text_of(sample(Kind::Measured), 64);
        let line = format!(
            "RMSG<SEP>#load-00abc123-3<SEP>18<SEP>2026-01-01T00:00:00.000Z<SEP>load-1-7<SEP>red<SEP>{text}"
        );
        assert_eq!(
            classify(line.as_bytes(), 0xabc123),
            Seen::RoomMsg {
                room: Some(3),
                delivery: Delivery {
                    id: MessageId::from_sequence(18),
                    marker: Some(sample(Kind::Measured)),
                },
            }
        );
        let elsewhere = b"RMSG<SEP>#dev<SEP>19<SEP>2026-01-01T00:00:00.000Z<SEP>bob<SEP>red<SEP>hi";
        assert!(matches!(
            classify(elsewhere, 0xabc123),
            Seen::RoomMsg { room: None, .. }
        ));
        assert_eq!(
            classify(
                b"INROOM<SEP>#load-00abc123-0<SEP>public<SEP>4<SEP>",
                0xabc123
            ),
            Seen::InRoom { room: Some(0) }
        );
    }

    #[test]
    fn history_is_told_apart_from_live_messages() {
        let text = text_of(sample(Kind::Measured), 64);
        let line = format!(
            "HIST<SEP>1732540028123-4<SEP>2026-01-01T00:00:00.000Z<SEP>load-1-7<SEP>red<SEP>{text}"
        );
        assert_eq!(
            classify(line.as_bytes(), 0xabc123),
            Seen::Hist(Delivery {
                id: MessageId::new(1_732_540_028_123, 4),
                marker: Some(sample(Kind::Measured)),
            })
        );
    }

    #[test]
    fn someone_else_s_message_has_an_id_and_no_marker() {
        let line = b"MSG<SEP>3<SEP>2026-01-01T00:00:00.000Z<SEP>alice<SEP>red<SEP>hello";
        assert_eq!(
            classify(line, 0xabc123),
            Seen::Msg(Delivery {
                id: MessageId::from_sequence(3),
                marker: None,
            })
        );
    }

    #[test]
    fn welcome_and_resume_carry_the_epoch() {
        assert_eq!(
            classify(b"WELCOME<SEP>load-1-0<SEP>red<SEP>4<SEP>5f3a9c<SEP>00ff", 1),
            Seen::Welcome {
                epoch: "5f3a9c".into()
            }
        );
        assert_eq!(
            classify(b"RESUME<SEP>5f3a9c<SEP>12<SEP>0", 1),
            Seen::Resumed {
                epoch: "5f3a9c".into(),
                skipped: 12
            }
        );
        assert_eq!(classify(b"PONG", 1), Seen::Pong);
    }

    #[test]
    fn bye_and_err_are_seen() {
        assert_eq!(
            classify(b"BYE<SEP>too slow", 1),
            Seen::Bye("too slow".to_string())
        );
        assert_eq!(
            classify(b"ERR<SEP>name-taken<SEP>taken", 1),
            Seen::Refused(ErrorCode::NameTaken)
        );
    }

    /// The marker survives any split of the byte stream, because framing is
    /// done by `LineReader` before the text is scanned.
    #[test]
    fn markers_found_across_every_read_split() {
        let mut stream = Vec::new();
        let mut expected = Vec::new();
        for seq in 0..3 {
            let marker = Marker {
                seq,
                ..sample(Kind::Measured)
            };
            let text = text_of(marker, 80);
            stream.extend_from_slice(
                format!("MSG<SEP>{seq}<SEP>2026-01-01T00:00:00.000Z<SEP>n<SEP>red<SEP>{text}\r\n")
                    .as_bytes(),
            );
            expected.push(marker);
        }
        for chunk_size in [1, 2, 7, 50, 97, stream.len()] {
            let mut reader = LineReader::new(DEFAULT_MAX_LINE_BYTES);
            let mut found = Vec::new();
            for chunk in stream.chunks(chunk_size) {
                let _ = reader.feed(chunk, |line| {
                    if let Line::Complete(bytes) = line {
                        if let Seen::Msg(Delivery {
                            marker: Some(marker),
                            ..
                        }) = classify(bytes, 0xabc123)
                        {
                            found.push(marker);
                        }
                    }
                    ControlFlow::Continue(())
                });
            }
            assert_eq!(found, expected, "chunk size {chunk_size}");
        }
    }
}
