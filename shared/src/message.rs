//! The two directions' lines, as data: [`ClientLine`] (desk to server) and
//! [`ServerLine`] (server to desk), each with `parse` and `encode` that are
//! inverses of each other. See the crate docs for the table of lines.
//!
//! [`ServerLine::encode`] cleans every text field it writes, so no control
//! character reaches anyone through a server line, whichever field a peer
//! managed to get it into.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::room::{check_room, RoomProblem};
use crate::sanitize::clean;
use crate::{Color, MessageId, SEPARATOR};

use crate::name::NameProblem;
// The name rules live in `crate::name`; `check_name` is kept reachable here,
// where it was first, so that callers need not move.
pub use crate::name::check_name;

/// A line from a client, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientLine<'a> {
    /// `NAME<SEP>TEXT`: say TEXT as NAME.
    Say {
        /// Who speaks; must be this connection's name, or free.
        name: &'a str,
        /// What they say, not yet cleaned of control characters.
        text: &'a str,
    },
    /// `/join NAME [COLOR] [DESK]`.
    Join {
        /// The name asked for.
        name: &'a str,
        /// The colour asked for; the server picks one if `None`.
        color: Option<Color>,
        /// A desk coming back: the secret from its first `WELCOME`
        /// ([`is_desk_secret`]). It keeps the desk's identity, and on a room
        /// shared by several servers it takes the desk's name back from a
        /// server that lost the desk.
        desk: Option<&'a str>,
    },
    /// `/who`.
    Who,
    /// `/ping`.
    Ping,
    /// `/quit`.
    Quit,
    /// `/resume EPOCH ID`: a desk coming back asks for what it missed.
    Resume {
        /// The log it knew ([`ServerLine::Welcome`]'s `epoch`).
        epoch: &'a str,
        /// The last message it showed.
        after: MessageId,
        /// The desk's secret from its first `WELCOME`, so that its direct
        /// messages are replayed to it (and to nobody who takes its name).
        desk: Option<&'a str>,
    },
    /// `/msg NAME TEXT`: say TEXT to NAME only.
    Direct {
        /// Who it is for; must be online.
        to: &'a str,
        /// What to say, not yet cleaned.
        text: &'a str,
    },
    /// `/search [ROOM] WORDS`: the last messages of the desk's rooms (or of
    /// ROOM alone) and of its own direct messages holding every word.
    Search {
        /// What to look for.
        words: &'a str,
        /// The one room to look in, if the first word names one.
        room: Option<&'a str>,
    },
    /// `/to ROOM TEXT`: say TEXT in ROOM, a room this desk is in
    /// (`NAME<SEP>TEXT` says it in `#main`).
    To {
        /// The room.
        room: &'a str,
        /// What to say, not yet cleaned.
        text: &'a str,
    },
    /// `/room ...`: entering, leaving, listing and shaping rooms.
    Room(RoomCommand<'a>),
    /// `/auth NAME TOKEN`: on a server run with `--auth token`, the first
    /// line of every connection; nothing else is accepted before it.
    Auth {
        /// The account's name, which is the name this connection will have.
        name: &'a str,
        /// The token `chat-server user add NAME` printed.
        token: &'a str,
    },
    /// `/tx TX LINE`: LINE (a message or a direct message) with the
    /// desk's own ID for it ([`is_tx_id`]). The server stores it once per
    /// desk and ID, however often it is sent, and answers `SENT` with the
    /// message's ID once it is stored (or `UNSURE` when it cannot tell), so
    /// a desk may send it again after any unclear outcome.
    Tagged {
        /// The desk's ID for this line.
        tx: &'a str,
        /// The message it carries.
        line: Box<ClientLine<'a>>,
    },
    /// An empty line: nothing to do.
    Blank,
}

impl<'a> ClientLine<'a> {
    /// Parses one line (without its newline).
    pub fn parse(line: &'a str) -> Result<ClientLine<'a>, ParseError> {
        // No name starts with '/', so a command may carry `<SEP>` in its
        // text (`/msg bob a<SEP>b`).
        if let Some((name, text)) = line
            .split_once(SEPARATOR)
            .filter(|_| !line.starts_with('/'))
        {
            check_name(name)?;
            if text.trim().is_empty() {
                return Err(ParseError::EmptyText);
            }
            return Ok(ClientLine::Say { name, text });
        }
        if line.trim().is_empty() {
            return Ok(ClientLine::Blank);
        }
        let Some(command) = line.strip_prefix('/') else {
            return Err(ParseError::NotAMessage);
        };
        let mut words = command.split_whitespace();
        let verb = words.next().unwrap_or("");
        let parsed = match verb {
            "join" => {
                let name = words
                    .next()
                    .ok_or(ParseError::BadName(NameProblem::Empty))?;
                check_name(name)?;
                let (mut color, mut desk) = (None, None);
                // A colour, a desk secret, or both, told apart by their look.
                for word in words.by_ref().take(2) {
                    if desk.is_none() && is_desk_secret(word) {
                        desk = Some(word);
                    } else if color.is_none() && desk.is_none() {
                        color = Some(
                            word.parse::<Color>()
                                .map_err(|_| ParseError::BadColor(echo(word)))?,
                        );
                    } else {
                        return Err(ParseError::UnknownCommand(echo(command)));
                    }
                }
                ClientLine::Join { name, color, desk }
            }
            "who" => ClientLine::Who,
            "ping" => ClientLine::Ping,
            "quit" => ClientLine::Quit,
            "resume" => {
                let (Some(epoch), Some(after)) = (words.next(), words.next()) else {
                    return Err(ParseError::BadResume);
                };
                let after = after.parse().map_err(|_| ParseError::BadResume)?;
                ClientLine::Resume {
                    epoch,
                    after,
                    desk: words.next(),
                }
            }
            // TEXT is the rest of the line, spaces and all.
            "msg" => {
                let rest = command["msg".len()..].trim_start();
                let (to, text) = rest.split_once(' ').ok_or(ParseError::BadDirect)?;
                check_name(to)?;
                if text.trim().is_empty() {
                    return Err(ParseError::EmptyText);
                }
                return Ok(ClientLine::Direct { to, text });
            }
            "auth" => {
                let (Some(name), Some(token)) = (words.next(), words.next()) else {
                    return Err(ParseError::BadAuth);
                };
                check_name(name)?;
                ClientLine::Auth { name, token }
            }
            // LINE is the rest of the line, spaces and all.
            "tx" => {
                let rest = command["tx".len()..].trim_start();
                let (tx, line) = rest.split_once(' ').ok_or(ParseError::BadTx)?;
                if !is_tx_id(tx) {
                    return Err(ParseError::BadTx);
                }
                let line = ClientLine::parse(line)?;
                if !matches!(
                    line,
                    ClientLine::Say { .. } | ClientLine::Direct { .. } | ClientLine::To { .. }
                ) {
                    return Err(ParseError::BadTx);
                }
                return Ok(ClientLine::Tagged {
                    tx,
                    line: Box::new(line),
                });
            }
            "search" => {
                let words = command["search".len()..].trim();
                let (room, words) = match words.split_once(' ') {
                    Some((first, rest)) if check_room(first).is_ok() => (Some(first), rest.trim()),
                    _ => (None, words),
                };
                if words.is_empty() {
                    return Err(ParseError::BadSearch);
                }
                return Ok(ClientLine::Search { words, room });
            }
            // TEXT is the rest of the line, spaces and all.
            "to" => {
                let rest = command["to".len()..].trim_start();
                let (room, text) = rest.split_once(' ').ok_or(ParseError::BadTo)?;
                check_room(room).map_err(ParseError::BadRoom)?;
                if text.trim().is_empty() {
                    return Err(ParseError::EmptyText);
                }
                return Ok(ClientLine::To { room, text });
            }
            "room" => return parse_room(&command["room".len()..]).map(ClientLine::Room),
            _ => return Err(ParseError::UnknownCommand(echo(verb))),
        };
        match words.next() {
            Some(_) => Err(ParseError::UnknownCommand(echo(command))),
            None => Ok(parsed),
        }
    }

    /// The line to send, with its newline.
    pub fn encode(&self) -> String {
        match self {
            ClientLine::Say { name, text } => format!("{name}{SEPARATOR}{text}\n"),
            ClientLine::Join { name, color, desk } => {
                let mut line = format!("/join {name}");
                if let Some(color) = color {
                    line.push_str(&format!(" {color}"));
                }
                if let Some(desk) = desk {
                    line.push_str(&format!(" {desk}"));
                }
                line.push('\n');
                line
            }
            ClientLine::Who => "/who\n".to_string(),
            ClientLine::Ping => "/ping\n".to_string(),
            ClientLine::Quit => "/quit\n".to_string(),
            ClientLine::Resume {
                epoch,
                after,
                desk: Some(desk),
            } => format!("/resume {epoch} {after} {desk}\n"),
            ClientLine::Resume {
                epoch,
                after,
                desk: None,
            } => format!("/resume {epoch} {after}\n"),
            ClientLine::Direct { to, text } => format!("/msg {to} {text}\n"),
            ClientLine::Search {
                words,
                room: Some(room),
            } => format!("/search {room} {words}\n"),
            ClientLine::Search { words, room: None } => format!("/search {words}\n"),
            ClientLine::To { room, text } => format!("/to {room} {text}\n"),
            ClientLine::Room(command) => format!("{}\n", room_line(command)),
            ClientLine::Auth { name, token } => format!("/auth {name} {token}\n"),
            ClientLine::Tagged { tx, line } => format!("/tx {tx} {}", line.encode()),
            ClientLine::Blank => "\n".to_string(),
        }
    }
}

/// What `/room` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomCommand<'a> {
    /// `/room join ROOM [private | key KEY]`: enter ROOM, making it if it
    /// is new; a room made `private` lets in, lists and shows its messages
    /// only to those its members invite. KEY opens a room with a key
    /// (mode `+k`).
    Join {
        /// The room.
        room: &'a str,
        /// Whether a new room is private.
        private: bool,
        /// The room's key, if it has one.
        key: Option<&'a str>,
    },
    /// `/room part ROOM`: leave ROOM (everyone stays in `#main`).
    Part {
        /// The room.
        room: &'a str,
        /// Why, told to its members (`EXIT`); empty if not given.
        reason: &'a str,
    },
    /// `/room list`: the rooms this desk may see.
    List,
    /// `/room topic ROOM [TEXT]`: set ROOM's topic, or ask for it.
    Topic {
        /// The room.
        room: &'a str,
        /// The new topic; `None` asks.
        text: Option<&'a str>,
    },
    /// `/room invite ROOM NAME`: let NAME into the private ROOM.
    Invite {
        /// The room.
        room: &'a str,
        /// Who, online now.
        name: &'a str,
    },
    /// `/room who ROOM`: who is in ROOM now.
    Who {
        /// The room.
        room: &'a str,
    },
    /// `/room mode ROOM [CHANGES]`: change ROOM's modes (IRC's letters and
    /// arguments, `+m`, `+o bob`, `-k`...), or ask for them.
    Mode {
        /// The room.
        room: &'a str,
        /// The changes as IRC writes them; empty asks.
        changes: &'a str,
    },
    /// `/room kick ROOM NAME [REASON]`: put NAME out of ROOM (an operator
    /// of ROOM only).
    Kick {
        /// The room.
        room: &'a str,
        /// Who.
        name: &'a str,
        /// Why; empty for none.
        reason: &'a str,
    },
}

impl RoomCommand<'_> {
    /// The room the command is about, if one.
    pub fn room(&self) -> Option<&str> {
        match self {
            RoomCommand::Join { room, .. }
            | RoomCommand::Part { room, .. }
            | RoomCommand::Topic { room, .. }
            | RoomCommand::Invite { room, .. }
            | RoomCommand::Who { room }
            | RoomCommand::Mode { room, .. }
            | RoomCommand::Kick { room, .. } => Some(room),
            RoomCommand::List => None,
        }
    }
}

/// `/room ...`, without its newline.
fn room_line(command: &RoomCommand<'_>) -> String {
    match command {
        RoomCommand::Join {
            room,
            private: true,
            ..
        } => format!("/room join {room} private"),
        RoomCommand::Join {
            room,
            key: Some(key),
            ..
        } => format!("/room join {room} key {key}"),
        RoomCommand::Join { room, .. } => format!("/room join {room}"),
        RoomCommand::Part { room, reason: "" } => format!("/room part {room}"),
        RoomCommand::Part { room, reason } => format!("/room part {room} {reason}"),
        RoomCommand::List => "/room list".to_string(),
        RoomCommand::Topic {
            room,
            text: Some(text),
        } => format!("/room topic {room} {text}"),
        RoomCommand::Topic { room, text: None } => format!("/room topic {room}"),
        RoomCommand::Invite { room, name } => format!("/room invite {room} {name}"),
        RoomCommand::Who { room } => format!("/room who {room}"),
        RoomCommand::Mode { room, changes: "" } => format!("/room mode {room}"),
        RoomCommand::Mode { room, changes } => format!("/room mode {room} {changes}"),
        RoomCommand::Kick {
            room,
            name,
            reason: "",
        } => format!("/room kick {room} {name}"),
        RoomCommand::Kick { room, name, reason } => {
            format!("/room kick {room} {name} {reason}")
        }
    }
}

/// Parses what follows `/room`.
fn parse_room(args: &str) -> Result<RoomCommand<'_>, ParseError> {
    let args = args.trim();
    let (verb, rest) = args.split_once(' ').unwrap_or((args, ""));
    let rest = rest.trim_start();
    let (room, after) = rest.split_once(' ').unwrap_or((rest, ""));
    let after = after.trim_start();
    let needs_room = |room: &str| -> Result<(), ParseError> {
        if room.is_empty() {
            return Err(ParseError::BadRoomCommand);
        }
        check_room(room).map_err(ParseError::BadRoom)
    };
    let command = match verb {
        "list" if rest.is_empty() => RoomCommand::List,
        "join" => {
            needs_room(room)?;
            let (private, key) = match after.split_once(' ') {
                None if after.is_empty() => (false, None),
                None if after == "private" => (true, None),
                Some(("key", key)) if !key.is_empty() && !key.contains(' ') => (false, Some(key)),
                _ => return Err(ParseError::BadRoomCommand),
            };
            RoomCommand::Join { room, private, key }
        }
        "part" => {
            needs_room(room)?;
            RoomCommand::Part {
                room,
                reason: after,
            }
        }
        "who" if after.is_empty() => {
            needs_room(room)?;
            RoomCommand::Who { room }
        }
        "topic" => {
            needs_room(room)?;
            RoomCommand::Topic {
                room,
                text: (!after.is_empty()).then_some(after),
            }
        }
        "invite" => {
            needs_room(room)?;
            if after.is_empty() || after.contains(' ') {
                return Err(ParseError::BadRoomCommand);
            }
            check_name(after)?;
            RoomCommand::Invite { room, name: after }
        }
        "mode" => {
            needs_room(room)?;
            RoomCommand::Mode {
                room,
                changes: after,
            }
        }
        "kick" => {
            needs_room(room)?;
            let (name, reason) = after.split_once(' ').unwrap_or((after, ""));
            if name.is_empty() {
                return Err(ParseError::BadRoomCommand);
            }
            check_name(name)?;
            RoomCommand::Kick {
                room,
                name,
                reason: reason.trim_start(),
            }
        }
        _ => return Err(ParseError::BadRoomCommand),
    };
    Ok(command)
}

/// Hex digits in a desk secret (`WELCOME`'s DESK): 128 bits.
pub const DESK_SECRET_DIGITS: usize = 32;

/// Whether `word` has the shape of a desk secret: [`DESK_SECRET_DIGITS`]
/// hex digits, which no colour name has.
pub fn is_desk_secret(word: &str) -> bool {
    word.len() == DESK_SECRET_DIGITS && word.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Most characters in a desk's ID for a line (`/tx`).
pub const MAX_TX_ID_CHARS: usize = 32;

/// Whether `word` may be a desk's ID for a line: 1 to [`MAX_TX_ID_CHARS`]
/// letters, digits, `-` or `_`.
pub fn is_tx_id(word: &str) -> bool {
    (1..=MAX_TX_ID_CHARS).contains(&word.len())
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The longest TEXT that `NAME<SEP>TEXT` can carry for `name` within a line
/// limit of `max_line_bytes` (the newline not counted, as the server counts).
pub fn max_text_bytes(name: &str, max_line_bytes: usize) -> usize {
    max_line_bytes.saturating_sub(name.len() + SEPARATOR.len())
}

/// Why a line could not be understood. Each maps to the [`ErrorCode`] the
/// server replies with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// No `<SEP>` and not a `/command`.
    NotAMessage,
    /// `NAME<SEP>` with nothing after it.
    EmptyText,
    /// A `/command` the server does not know, or with extra words.
    UnknownCommand(String),
    /// The name breaks the rules.
    BadName(NameProblem),
    /// The colour is not in the palette.
    BadColor(String),
    /// `/resume` without an epoch and a message ID.
    BadResume,
    /// `/msg` without a name and a text.
    BadDirect,
    /// `/search` without words.
    BadSearch,
    /// `/auth` without a name and a token.
    BadAuth,
    /// `/tx` without an ID and a message (or direct message).
    BadTx,
    /// `/to` without a room and a text.
    BadTo,
    /// `/room` without a known verb and what it takes.
    BadRoomCommand,
    /// A room's name breaks the rules.
    BadRoom(RoomProblem),
    /// A server line that is not one of the known kinds, or lacks fields.
    Malformed,
}

impl ParseError {
    /// The code the server puts in its `ERR` reply.
    pub fn code(&self) -> ErrorCode {
        match self {
            ParseError::NotAMessage | ParseError::Malformed => ErrorCode::BadLine,
            ParseError::EmptyText => ErrorCode::EmptyText,
            ParseError::UnknownCommand(_)
            | ParseError::BadResume
            | ParseError::BadDirect
            | ParseError::BadSearch
            | ParseError::BadAuth
            | ParseError::BadTx
            | ParseError::BadTo
            | ParseError::BadRoomCommand => ErrorCode::BadCommand,
            ParseError::BadRoom(_) => ErrorCode::BadRoom,
            ParseError::BadName(_) => ErrorCode::BadName,
            ParseError::BadColor(_) => ErrorCode::BadColor,
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::NotAMessage => write!(f, "expected NAME{SEPARATOR}TEXT or a /command"),
            ParseError::EmptyText => f.write_str("the message is empty"),
            ParseError::UnknownCommand(cmd) => {
                write!(
                    f,
                    "unknown command '/{cmd}'; try /join NAME [COLOR], /msg NAME TEXT, /search WORDS, /who, /ping or /quit"
                )
            }
            ParseError::BadName(problem) => write!(f, "{problem}"),
            ParseError::BadColor(word) => write!(f, "{}", crate::color::UnknownColor(word.clone())),
            ParseError::BadResume => f.write_str("usage: /resume EPOCH MESSAGE-ID [DESK]"),
            ParseError::BadDirect => f.write_str("usage: /msg NAME TEXT"),
            ParseError::BadSearch => f.write_str("usage: /search [#ROOM] WORDS"),
            ParseError::BadAuth => f.write_str("usage: /auth NAME TOKEN"),
            ParseError::BadTo => f.write_str("usage: /to #ROOM TEXT"),
            ParseError::BadRoomCommand => f.write_str(
                "usage: /room join #ROOM [private | key KEY], /room part #ROOM, /room list, \
                 /room topic #ROOM [TEXT], /room invite #ROOM NAME, /room who #ROOM, \
                 /room mode #ROOM [CHANGES], /room kick #ROOM NAME [REASON]",
            ),
            ParseError::BadRoom(problem) => write!(f, "{problem}"),
            ParseError::BadTx => f.write_str(
                "usage: /tx ID NAME<SEP>TEXT or /tx ID /msg NAME TEXT (ID: up to 32 letters, \
                 digits, '-' or '_')",
            ),
            ParseError::Malformed => f.write_str("not a line of the chat protocol"),
        }
    }
}

impl std::error::Error for ParseError {}

impl From<NameProblem> for ParseError {
    fn from(problem: NameProblem) -> ParseError {
        ParseError::BadName(problem)
    }
}

/// The machine-readable part of an `ERR` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// `name-taken`: someone connected already has that name, or one that
    /// differs from it only in case or in lookalike letters (see
    /// [`crate::name::name_key`]).
    NameTaken,
    /// `bad-name`: the name breaks the rules of [`check_name`].
    BadName,
    /// `bad-color`: the colour is not in the palette.
    BadColor,
    /// `wrong-name`: this connection already has another name.
    WrongName,
    /// `bad-line`: neither `NAME<SEP>TEXT` nor a command.
    BadLine,
    /// `bad-command`: an unknown `/command`.
    BadCommand,
    /// `empty-text`: `NAME<SEP>` with no text.
    EmptyText,
    /// `line-too-long`: the line was over the limit and was discarded.
    LineTooLong,
    /// `not-saved`: the room's log could not store the message, so nobody
    /// got it; sending it again later may work.
    NotSaved,
    /// `no-such-name`: nobody of that name is online to get a direct
    /// message.
    NoSuchName,
    /// `needs-log`: `/search` needs the room's durable log (the server runs
    /// with `--db none`).
    NeedsLog,
    /// `auth-failed`: `/auth` was not accepted. The same answer whether
    /// the name has no account, the token is wrong, or this address must
    /// wait after earlier failures; the connection is closed after it.
    AuthFailed,
    /// `auth-required`: the server runs with `--auth token` and this
    /// connection has not sent `/auth NAME TOKEN` yet.
    AuthRequired,
    /// `revoked`: this desk's account was removed; the connection is closed
    /// after it.
    Revoked,
    /// `tls-required`: the server takes TLS connections only; the
    /// connection is closed after it.
    TlsRequired,
    /// `bad-search`: the words cannot be searched for (nothing in them
    /// is a word).
    BadSearch,
    /// `search-busy`: this desk's last search is not answered yet, or the
    /// server has too many searches waiting; try again in a moment.
    SearchBusy,
    /// `search-too-broad`: the search took too long and was stopped; more
    /// or rarer words narrow it.
    SearchTooBroad,
    /// `search-failed`: the server could not run the search (its log is
    /// unreadable); try again later.
    SearchFailed,
    /// `bad-room`: a room's name breaks the rules, or `#main` cannot be
    /// left.
    BadRoom,
    /// `no-such-room`: no room of that name (that this desk may see).
    NoSuchRoom,
    /// `not-in-room`: this desk is not in that room.
    NotInRoom,
    /// `not-invited`: the room is private and this desk was not invited.
    NotInvited,
    /// `too-many-rooms`: this desk is in as many rooms as it may be, or the
    /// server has as many as it keeps.
    TooManyRooms,
    /// `rooms-too-fast`: this desk made rooms too quickly; it may make more
    /// in a minute.
    RoomsTooFast,
    /// `room-not-saved`: the log could not keep a change to the rooms (a
    /// join, part, topic or invitation); nothing changed.
    RoomNotSaved,
    /// `not-operator`: only the room's operators may do that (change its
    /// modes, kick, set the topic of a `+t` room, invite to a `+i` room).
    NotOperator,
    /// `banned`: a ban mask of the room (`+b`) matches this desk.
    Banned,
    /// `bad-key`: the room has a key (`+k`) and this was not it.
    BadKey,
    /// `room-full`: the room has as many in it as its limit (`+l`).
    RoomFull,
    /// `invite-only`: the room lets in only those invited (`+i`).
    InviteOnly,
    /// `cannot-send`: the room is moderated (`+m`) and this desk has no
    /// voice, or it takes no messages from outside (`+n`).
    CannotSend,
    /// `unknown-mode`: a mode letter the server does not know.
    UnknownMode,
    /// `bad-mode`: a mode's argument is not valid (a key with a space,
    /// too long), or too many changes at once, or the ban list is full.
    BadMode,
    /// `not-there`: the one named is not in that room.
    NotThere,
    /// `already-there`: the one invited is in the room already.
    AlreadyThere,
    /// `unsure`: the server cannot tell whether the message was stored (its
    /// log did not answer in time); if it was, everyone gets it. A desk
    /// that tags its lines (`/tx`) is told with `UNSURE` instead.
    Unsure,
    /// Any code this version does not know.
    Other,
}

impl ErrorCode {
    const NAMES: [(ErrorCode, &'static str); 37] = [
        (ErrorCode::NameTaken, "name-taken"),
        (ErrorCode::BadName, "bad-name"),
        (ErrorCode::BadColor, "bad-color"),
        (ErrorCode::WrongName, "wrong-name"),
        (ErrorCode::BadLine, "bad-line"),
        (ErrorCode::BadCommand, "bad-command"),
        (ErrorCode::EmptyText, "empty-text"),
        (ErrorCode::LineTooLong, "line-too-long"),
        (ErrorCode::NotSaved, "not-saved"),
        (ErrorCode::NoSuchName, "no-such-name"),
        (ErrorCode::NeedsLog, "needs-log"),
        (ErrorCode::AuthFailed, "auth-failed"),
        (ErrorCode::AuthRequired, "auth-required"),
        (ErrorCode::Revoked, "revoked"),
        (ErrorCode::TlsRequired, "tls-required"),
        (ErrorCode::BadSearch, "bad-search"),
        (ErrorCode::SearchBusy, "search-busy"),
        (ErrorCode::SearchTooBroad, "search-too-broad"),
        (ErrorCode::SearchFailed, "search-failed"),
        (ErrorCode::Unsure, "unsure"),
        (ErrorCode::RoomNotSaved, "room-not-saved"),
        (ErrorCode::BadRoom, "bad-room"),
        (ErrorCode::NoSuchRoom, "no-such-room"),
        (ErrorCode::NotInRoom, "not-in-room"),
        (ErrorCode::NotInvited, "not-invited"),
        (ErrorCode::TooManyRooms, "too-many-rooms"),
        (ErrorCode::RoomsTooFast, "rooms-too-fast"),
        (ErrorCode::NotOperator, "not-operator"),
        (ErrorCode::Banned, "banned"),
        (ErrorCode::BadKey, "bad-key"),
        (ErrorCode::RoomFull, "room-full"),
        (ErrorCode::InviteOnly, "invite-only"),
        (ErrorCode::CannotSend, "cannot-send"),
        (ErrorCode::UnknownMode, "unknown-mode"),
        (ErrorCode::BadMode, "bad-mode"),
        (ErrorCode::NotThere, "not-there"),
        (ErrorCode::AlreadyThere, "already-there"),
    ];

    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(code, _)| *code == self)
            .map_or("other", |(_, name)| name)
    }

    fn from_wire(word: &str) -> ErrorCode {
        Self::NAMES
            .iter()
            .find(|(_, name)| *name == word)
            .map_or(ErrorCode::Other, |(code, _)| *code)
    }
}

/// A chat message, live or replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chat<'a> {
    /// Its place in the room's log.
    pub id: MessageId,
    /// When the server received it: see [`timestamp_now`].
    pub time: &'a str,
    /// Who said it.
    pub name: &'a str,
    /// Their colour.
    pub color: Color,
    /// What they said, cleaned by the server.
    pub text: &'a str,
}

/// Someone joining or leaving.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presence<'a> {
    /// When it happened.
    pub time: &'a str,
    /// Who.
    pub name: &'a str,
    /// Their colour.
    pub color: Color,
    /// Why they left, in their own words (`LEAVE`, `EXIT`): empty if they
    /// gave none, and always for `JOIN` and `ENTER`. On the wire a fourth
    /// field, only when not empty: a desk that reads three fields takes
    /// `COLOR<SEP>REASON` as an unknown colour and shows the line with the
    /// name's own.
    pub reason: &'a str,
}

/// A direct message: from one person to one other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Direct<'a> {
    /// Its place in the room's log.
    pub id: MessageId,
    /// When the server received it.
    pub time: &'a str,
    /// Who wrote it.
    pub from: &'a str,
    /// Their colour.
    pub color: Color,
    /// Who it is for.
    pub to: &'a str,
    /// What they said, cleaned by the server.
    pub text: &'a str,
}

/// One person in a `WHO` answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WhoEntry<'a> {
    /// Their name.
    pub name: &'a str,
    /// Seconds since they last said anything (or joined).
    pub idle_secs: u64,
}

/// One `/search` result: a room message, or a direct message of the desk
/// that searched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found<'a> {
    /// The message.
    pub chat: Chat<'a>,
    /// For a direct message, who it was for; `None` for the room.
    pub to: Option<&'a str>,
}

/// A message in a room other than `#main` (whose messages are plain `MSG`
/// and `HIST`, as every desk knows them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomChat<'a> {
    /// The room.
    pub room: &'a str,
    /// The message.
    pub chat: Chat<'a>,
}

/// What a room is like, for a desk in it or looking at the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomInfo<'a> {
    /// The room's name.
    pub room: &'a str,
    /// Whether only those invited may enter, list and read it.
    pub private: bool,
    /// How many desks are in it now, on every server.
    pub members: usize,
    /// Its topic; empty if none.
    pub topic: &'a str,
}

/// A line from the server, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerLine<'a> {
    /// `MSG`: a live message.
    Msg(Chat<'a>),
    /// `HIST`: a message from before this connection, replayed on connect.
    History(Chat<'a>),
    /// `DM`: a direct message, to its writer and its reader only.
    Direct(Direct<'a>),
    /// `HISTDM`: a direct message replayed to a resuming desk that wrote or
    /// received it.
    DirectHistory(Direct<'a>),
    /// `SEARCH`: the answer to `/search`; `count` `FOUND` lines follow.
    Searched {
        /// How many results follow.
        count: usize,
    },
    /// `FOUND`: one search result, oldest first.
    Found(Found<'a>),
    /// `JOIN`: someone took a name.
    Join(Presence<'a>),
    /// `LEAVE`: someone left.
    Leave(Presence<'a>),
    /// `WELCOME`: this connection now has a name.
    Welcome {
        /// The name, as the server stored it.
        name: &'a str,
        /// The colour others will see.
        color: Color,
        /// How many people are online, this one included.
        online: usize,
        /// Which log the message IDs belong to; a desk resuming on a log
        /// with another epoch cannot compare IDs and starts afresh.
        epoch: &'a str,
        /// This desk's secret: presented with `/resume`, it gets the desk
        /// its own direct messages back. Told to this desk only.
        desk: &'a str,
    },
    /// `WHO`: who is online.
    Who {
        /// How many people are online.
        count: usize,
        /// Up to [`crate::MAX_WHO_NAMES`] of them.
        people: Vec<WhoEntry<'a>>,
    },
    /// `ERR`: a request was refused.
    Error {
        /// What kind of refusal.
        code: ErrorCode,
        /// A sentence for a person.
        detail: &'a str,
    },
    /// `BYE`: the server is closing this connection.
    Bye {
        /// Why, for a person.
        reason: &'a str,
    },
    /// `PONG`: answer to `/ping`.
    Pong,
    /// `RESUME`: the answer to `/resume`; the missed messages follow as
    /// `HIST` lines, then live traffic.
    Resumed {
        /// The server's log. If it is not the epoch the desk asked about,
        /// what follows is the recent history, not what it missed.
        epoch: &'a str,
        /// Messages missed but not replayed (older than the replay bound).
        skipped: u64,
        /// How many `HIST` lines follow: the end of the replay.
        replayed: u64,
    },
    /// `NOTE`: something every desk should know (the log cannot save).
    Notice {
        /// A sentence for a person.
        text: &'a str,
    },
    /// `RMSG`: a live message in a room other than `#main`.
    RoomMsg(RoomChat<'a>),
    /// `RHIST`: an earlier message of a room other than `#main` (its
    /// history on entering, or what a `/resume` missed).
    RoomHistory(RoomChat<'a>),
    /// `RFOUND`: one search result from a room other than `#main`.
    RoomFound(RoomChat<'a>),
    /// `ENTER`: someone entered a room this desk is in.
    Enter {
        /// The room.
        room: &'a str,
        /// Who, and when.
        who: Presence<'a>,
    },
    /// `EXIT`: someone left a room this desk is in.
    Exit {
        /// The room.
        room: &'a str,
        /// Who, and when.
        who: Presence<'a>,
    },
    /// `INROOM`: this desk is in the room (it entered, or came back to it);
    /// the room's recent history follows as `RHIST` lines.
    InRoom(RoomInfo<'a>),
    /// `PARTED`: this desk left the room.
    Parted {
        /// The room.
        room: &'a str,
    },
    /// `ROOMS`: the answer to `/room list`; `count` `ROOM` lines follow.
    Rooms {
        /// How many follow.
        count: usize,
    },
    /// `ROOM`: one room of a `/room list` answer.
    RoomListed(RoomInfo<'a>),
    /// `TOPIC`: a room's topic, as it was just set (to its members) or as
    /// asked for.
    Topic {
        /// The room.
        room: &'a str,
        /// When it was set (wire format); empty if never.
        time: &'a str,
        /// Who set it; empty if nobody.
        by: &'a str,
        /// The topic; empty if none.
        text: &'a str,
    },
    /// `INVITED`: this desk may now enter the private room.
    Invited {
        /// The room.
        room: &'a str,
        /// Who invited it.
        by: &'a str,
    },
    /// `MODE`: a room's modes changed (to its members), or what they are
    /// (to the desk that asked, with `by` empty).
    Mode {
        /// The room.
        room: &'a str,
        /// Who changed them; empty in an answer.
        by: &'a str,
        /// IRC's letters and arguments: `+o bob`, `+ntl 10`, `-k`.
        changes: &'a str,
    },
    /// `KICKED`: someone was put out of a room (to its members, and to
    /// them).
    Kicked {
        /// The room.
        room: &'a str,
        /// Who was put out.
        name: &'a str,
        /// Who put them out.
        by: &'a str,
        /// Why; empty for no reason.
        reason: &'a str,
    },
    /// `SENT`: the line the desk tagged `tx` is stored as message `id`
    /// (its copy follows, unless it was stored before).
    Sent {
        /// The desk's ID for the line.
        tx: &'a str,
        /// The message's ID in the log.
        id: MessageId,
    },
    /// `UNSENT`: the line tagged `tx` was certainly not stored (the log
    /// refused it), so nobody got it; sending it again is safe.
    Unsent {
        /// The desk's ID for the line.
        tx: &'a str,
        /// A sentence for a person.
        detail: &'a str,
    },
    /// `UNSURE`: the server cannot tell whether the line tagged `tx` was
    /// stored (the log did not answer in time); sending it again with the
    /// same ID stores it at most once.
    Unsure {
        /// The desk's ID for the line.
        tx: &'a str,
        /// A sentence for a person.
        detail: &'a str,
    },
}

impl<'a> ServerLine<'a> {
    /// Parses one line (without its newline).
    pub fn parse(line: &'a str) -> Result<ServerLine<'a>, ParseError> {
        let (kind, rest) = line.split_once(SEPARATOR).unwrap_or((line, ""));
        let parsed = match kind {
            "MSG" => ServerLine::Msg(parse_chat(rest)?),
            "HIST" => ServerLine::History(parse_chat(rest)?),
            "DM" => ServerLine::Direct(parse_direct(rest)?),
            "HISTDM" => ServerLine::DirectHistory(parse_direct(rest)?),
            "SEARCH" => ServerLine::Searched {
                count: rest.parse().map_err(|_| ParseError::Malformed)?,
            },
            "FOUND" => {
                let [id, time, name, color, to, text] = fields(rest)?;
                ServerLine::Found(Found {
                    chat: Chat {
                        id: id.parse().map_err(|_| ParseError::Malformed)?,
                        time,
                        name,
                        color: color_of(color, name),
                        text,
                    },
                    to: (!to.is_empty()).then_some(to),
                })
            }
            "JOIN" => ServerLine::Join(parse_presence(rest)?),
            "LEAVE" => ServerLine::Leave(parse_presence(rest)?),
            "WELCOME" => {
                let [name, color, online, epoch, desk] = fields(rest)?;
                ServerLine::Welcome {
                    name,
                    color: color_of(color, name),
                    online: online.parse().map_err(|_| ParseError::Malformed)?,
                    epoch,
                    desk,
                }
            }
            "RESUME" => {
                let [epoch, skipped, replayed] = fields(rest)?;
                let count = |field: &str| field.parse().map_err(|_| ParseError::Malformed);
                ServerLine::Resumed {
                    epoch,
                    skipped: count(skipped)?,
                    replayed: count(replayed)?,
                }
            }
            "NOTE" => ServerLine::Notice { text: rest },
            "WHO" => {
                let mut parts = rest.split(SEPARATOR);
                let count = parts
                    .next()
                    .and_then(|c| c.parse().ok())
                    .ok_or(ParseError::Malformed)?;
                let people = parts
                    .filter(|entry| !entry.is_empty())
                    .map(|entry| match entry.split_once(' ') {
                        Some((name, idle)) => WhoEntry {
                            name,
                            idle_secs: idle.parse().unwrap_or(0),
                        },
                        None => WhoEntry {
                            name: entry,
                            idle_secs: 0,
                        },
                    })
                    .collect();
                ServerLine::Who { count, people }
            }
            "ERR" => {
                let [code, detail] = fields(rest)?;
                ServerLine::Error {
                    code: ErrorCode::from_wire(code),
                    detail,
                }
            }
            "BYE" => ServerLine::Bye { reason: rest },
            "PONG" => ServerLine::Pong,
            "RMSG" => ServerLine::RoomMsg(parse_room_chat(rest)?),
            "RHIST" => ServerLine::RoomHistory(parse_room_chat(rest)?),
            "RFOUND" => ServerLine::RoomFound(parse_room_chat(rest)?),
            "ENTER" | "EXIT" => {
                let (room, who) = rest.split_once(SEPARATOR).ok_or(ParseError::Malformed)?;
                let who = parse_presence(who)?;
                if kind == "ENTER" {
                    ServerLine::Enter { room, who }
                } else {
                    ServerLine::Exit { room, who }
                }
            }
            "INROOM" => ServerLine::InRoom(parse_room_info(rest)?),
            "ROOM" => ServerLine::RoomListed(parse_room_info(rest)?),
            "PARTED" => ServerLine::Parted { room: rest },
            "ROOMS" => ServerLine::Rooms {
                count: rest.parse().map_err(|_| ParseError::Malformed)?,
            },
            "TOPIC" => {
                let [room, time, by, text] = fields(rest)?;
                ServerLine::Topic {
                    room,
                    time,
                    by,
                    text,
                }
            }
            "INVITED" => {
                let [room, by] = fields(rest)?;
                ServerLine::Invited { room, by }
            }
            "MODE" => {
                let [room, by, changes] = fields(rest)?;
                ServerLine::Mode { room, by, changes }
            }
            "KICKED" => {
                let [room, name, by, reason] = fields(rest)?;
                ServerLine::Kicked {
                    room,
                    name,
                    by,
                    reason,
                }
            }
            "SENT" => {
                let [tx, id] = fields(rest)?;
                ServerLine::Sent {
                    tx,
                    id: id.parse().map_err(|_| ParseError::Malformed)?,
                }
            }
            "UNSURE" => {
                let [tx, detail] = fields(rest)?;
                ServerLine::Unsure { tx, detail }
            }
            "UNSENT" => {
                let [tx, detail] = fields(rest)?;
                ServerLine::Unsent { tx, detail }
            }
            _ => return Err(ParseError::Malformed),
        };
        Ok(parsed)
    }

    /// The line to send, with its newline.
    ///
    /// Every text field goes through [`clean`] here, at the last step before
    /// the wire, rather than being trusted to each caller: an `ERR` detail
    /// echoes what a client typed, a `BYE` reason or a name may too, and one
    /// raw ESC in any of them would reach a terminal, one raw `\r` or `\n`
    /// would split the line. Clean text is borrowed, not copied, and cleaning
    /// is idempotent, so text the caller already cleaned comes out unchanged.
    pub fn encode(&self) -> Vec<u8> {
        let s = SEPARATOR;
        let text = match self {
            ServerLine::Msg(c) => chat_line("MSG", c),
            ServerLine::History(c) => chat_line("HIST", c),
            ServerLine::Direct(d) => direct_line("DM", d),
            ServerLine::DirectHistory(d) => direct_line("HISTDM", d),
            ServerLine::Searched { count } => format!("SEARCH{s}{count}"),
            ServerLine::Found(found) => {
                let c = &found.chat;
                let (time, name, text) = (clean(c.time), clean(c.name), clean(c.text));
                let to = clean(found.to.unwrap_or(""));
                format!(
                    "FOUND{s}{}{s}{time}{s}{name}{s}{}{s}{to}{s}{text}",
                    c.id, c.color
                )
            }
            ServerLine::Join(p) => presence_line("JOIN", p),
            ServerLine::Leave(p) => presence_line("LEAVE", p),
            ServerLine::Welcome {
                name,
                color,
                online,
                epoch,
                desk,
            } => {
                format!(
                    "WELCOME{s}{}{s}{color}{s}{online}{s}{}{s}{}",
                    clean(name),
                    clean(epoch),
                    clean(desk)
                )
            }
            ServerLine::Resumed {
                epoch,
                skipped,
                replayed,
            } => {
                format!("RESUME{s}{}{s}{skipped}{s}{replayed}", clean(epoch))
            }
            ServerLine::Notice { text } => format!("NOTE{s}{}", clean(text)),
            ServerLine::Who { count, people } => {
                let mut line = format!("WHO{s}{count}");
                for person in people {
                    line.push_str(s);
                    line.push_str(&clean(person.name));
                    line.push_str(&format!(" {}", person.idle_secs));
                }
                line
            }
            ServerLine::Error { code, detail } => {
                format!("ERR{s}{}{s}{}", code.as_str(), clean(detail))
            }
            ServerLine::Bye { reason } => format!("BYE{s}{}", clean(reason)),
            ServerLine::Pong => "PONG".to_string(),
            ServerLine::RoomMsg(r) => room_chat_line("RMSG", r),
            ServerLine::RoomHistory(r) => room_chat_line("RHIST", r),
            ServerLine::RoomFound(r) => room_chat_line("RFOUND", r),
            ServerLine::Enter { room, who } => room_presence_line("ENTER", room, who),
            ServerLine::Exit { room, who } => room_presence_line("EXIT", room, who),
            ServerLine::InRoom(info) => room_info_line("INROOM", info),
            ServerLine::RoomListed(info) => room_info_line("ROOM", info),
            ServerLine::Parted { room } => format!("PARTED{s}{}", clean(room)),
            ServerLine::Rooms { count } => format!("ROOMS{s}{count}"),
            ServerLine::Topic {
                room,
                time,
                by,
                text,
            } => format!(
                "TOPIC{s}{}{s}{}{s}{}{s}{}",
                clean(room),
                clean(time),
                clean(by),
                clean(text)
            ),
            ServerLine::Invited { room, by } => {
                format!("INVITED{s}{}{s}{}", clean(room), clean(by))
            }
            ServerLine::Mode { room, by, changes } => {
                format!(
                    "MODE{s}{}{s}{}{s}{}",
                    clean(room),
                    clean(by),
                    clean(changes)
                )
            }
            ServerLine::Kicked {
                room,
                name,
                by,
                reason,
            } => format!(
                "KICKED{s}{}{s}{}{s}{}{s}{}",
                clean(room),
                clean(name),
                clean(by),
                clean(reason)
            ),
            ServerLine::Sent { tx, id } => format!("SENT{s}{}{s}{id}", clean(tx)),
            ServerLine::Unsure { tx, detail } => {
                format!("UNSURE{s}{}{s}{}", clean(tx), clean(detail))
            }
            ServerLine::Unsent { tx, detail } => {
                format!("UNSENT{s}{}{s}{}", clean(tx), clean(detail))
            }
        };
        let mut bytes = text.into_bytes();
        bytes.push(b'\n');
        bytes
    }
}

/// `KIND<SEP>ID<SEP>TIME<SEP>NAME<SEP>COLOR<SEP>TEXT`, its text fields
/// cleaned.
fn chat_line(kind: &str, c: &Chat<'_>) -> String {
    let s = SEPARATOR;
    let (time, name, text) = (clean(c.time), clean(c.name), clean(c.text));
    format!("{kind}{s}{}{s}{time}{s}{name}{s}{}{s}{text}", c.id, c.color)
}

/// `KIND<SEP>ID<SEP>TIME<SEP>FROM<SEP>COLOR<SEP>TO<SEP>TEXT`, its text
/// fields cleaned.
fn direct_line(kind: &str, d: &Direct<'_>) -> String {
    let s = SEPARATOR;
    let (time, from, to, text) = (clean(d.time), clean(d.from), clean(d.to), clean(d.text));
    format!(
        "{kind}{s}{}{s}{time}{s}{from}{s}{}{s}{to}{s}{text}",
        d.id, d.color
    )
}

fn parse_direct(rest: &str) -> Result<Direct<'_>, ParseError> {
    let [id, time, from, color, to, text] = fields(rest)?;
    Ok(Direct {
        id: id.parse().map_err(|_| ParseError::Malformed)?,
        time,
        from,
        color: color_of(color, from),
        to,
        text,
    })
}

/// `KIND<SEP>TIME<SEP>NAME<SEP>COLOR[<SEP>REASON]`, its text fields
/// cleaned.
fn presence_line(kind: &str, p: &Presence<'_>) -> String {
    let s = SEPARATOR;
    let (time, name) = (clean(p.time), clean(p.name));
    let line = format!("{kind}{s}{time}{s}{name}{s}{}", p.color);
    match p.reason {
        "" => line,
        reason => format!("{line}{s}{}", clean(reason)),
    }
}

/// `KIND<SEP>ROOM<SEP>ID<SEP>TIME<SEP>NAME<SEP>COLOR<SEP>TEXT`, its text
/// fields cleaned.
fn room_chat_line(kind: &str, r: &RoomChat<'_>) -> String {
    let room = clean(r.room);
    let chat = chat_line(kind, &r.chat);
    let rest = chat.strip_prefix(kind).unwrap_or(&chat);
    format!("{kind}{SEPARATOR}{room}{rest}")
}

/// `KIND<SEP>ROOM<SEP>TIME<SEP>NAME<SEP>COLOR`, its text fields cleaned.
fn room_presence_line(kind: &str, room: &str, p: &Presence<'_>) -> String {
    let line = presence_line(kind, p);
    let rest = line.strip_prefix(kind).unwrap_or(&line);
    format!("{kind}{SEPARATOR}{}{rest}", clean(room))
}

/// `KIND<SEP>ROOM<SEP>ACCESS<SEP>MEMBERS<SEP>TOPIC`, ACCESS `public` or
/// `private`.
fn room_info_line(kind: &str, info: &RoomInfo<'_>) -> String {
    let s = SEPARATOR;
    let access = if info.private { "private" } else { "public" };
    format!(
        "{kind}{s}{}{s}{access}{s}{}{s}{}",
        clean(info.room),
        info.members,
        clean(info.topic)
    )
}

fn parse_room_chat(rest: &str) -> Result<RoomChat<'_>, ParseError> {
    let (room, chat) = rest.split_once(SEPARATOR).ok_or(ParseError::Malformed)?;
    Ok(RoomChat {
        room,
        chat: parse_chat(chat)?,
    })
}

fn parse_room_info(rest: &str) -> Result<RoomInfo<'_>, ParseError> {
    let [room, access, members, topic] = fields(rest)?;
    Ok(RoomInfo {
        room,
        private: access == "private",
        members: members.parse().map_err(|_| ParseError::Malformed)?,
        topic,
    })
}

/// Splits `rest` into exactly `N` fields; the last takes whatever is left,
/// `<SEP>`s included.
fn fields<const N: usize>(rest: &str) -> Result<[&str; N], ParseError> {
    let mut out = [""; N];
    let mut parts = rest.splitn(N, SEPARATOR);
    for slot in out.iter_mut() {
        *slot = parts.next().ok_or(ParseError::Malformed)?;
    }
    Ok(out)
}

/// The colour a server line gives `name`. A colour this version does not
/// have (an older server's `white`, say) becomes the one the name gives, so
/// a newer desk still shows the line.
fn color_of(word: &str, name: &str) -> Color {
    word.parse().unwrap_or_else(|_| Color::for_name(name))
}

/// Most characters of a peer's input that an error repeats back: enough to
/// recognise it, never a whole line made four times longer by cleaning.
const MAX_ECHO_CHARS: usize = 64;

/// What an error repeats of the peer's input: at most [`MAX_ECHO_CHARS`].
fn echo(input: &str) -> String {
    match input.char_indices().nth(MAX_ECHO_CHARS) {
        Some((cut, _)) => format!("{}...", &input[..cut]),
        None => input.to_string(),
    }
}

fn parse_chat(rest: &str) -> Result<Chat<'_>, ParseError> {
    let [id, time, name, color, text] = fields(rest)?;
    Ok(Chat {
        id: id.parse().map_err(|_| ParseError::Malformed)?,
        time,
        name,
        color: color_of(color, name),
        text,
    })
}

fn parse_presence(rest: &str) -> Result<Presence<'_>, ParseError> {
    let [time, name, color] = fields(rest)?;
    let (color, reason) = color.split_once(SEPARATOR).unwrap_or((color, ""));
    Ok(Presence {
        time,
        name,
        color: color_of(color, name),
        reason,
    })
}

/// The server's clock, in the wire format: RFC 3339, UTC, milliseconds.
pub fn timestamp_now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Reads a wire timestamp back; `None` if it is not RFC 3339.
pub fn parse_timestamp(time: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(time)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn say_is_split_on_the_first_separator_only() {
        assert_eq!(
            ClientLine::parse("alice<SEP>a<SEP>b"),
            Ok(ClientLine::Say {
                name: "alice",
                text: "a<SEP>b"
            })
        );
    }

    #[test]
    fn max_text_bytes_fills_the_line_limit_exactly() {
        use crate::line::{Line, LineReader};
        let limit = 64;
        let fits = "x".repeat(max_text_bytes("bob", limit));
        let over = format!("{fits}x");
        let mut reader = LineReader::new(limit);
        let mut seen = Vec::new();
        for text in [&fits, &over] {
            let encoded = ClientLine::Say { name: "bob", text }.encode();
            let _ = reader.feed(encoded.as_bytes(), |line| {
                seen.push(matches!(line, Line::Complete(_)));
                std::ops::ControlFlow::Continue(())
            });
        }
        assert_eq!(
            seen,
            [true, false],
            "the longest text fits, one byte more does not"
        );
        assert_eq!(max_text_bytes("bob", 3), 0);
    }

    #[test]
    fn say_round_trips() {
        let line = ClientLine::Say {
            name: "bob",
            text: "hi there",
        };
        let encoded = line.encode();
        assert_eq!(ClientLine::parse(encoded.trim_end()), Ok(line));
    }

    #[test]
    fn join_with_and_without_colour() {
        assert_eq!(
            ClientLine::parse("/join alice bright-red"),
            Ok(ClientLine::Join {
                name: "alice",
                color: Some(Color::BrightRed),
                desk: None
            })
        );
        assert_eq!(
            ClientLine::parse("/join alice"),
            Ok(ClientLine::Join {
                name: "alice",
                color: None,
                desk: None
            })
        );
        let line = ClientLine::Join {
            name: "carol",
            color: Some(Color::Cyan),
            desk: None,
        };
        assert_eq!(ClientLine::parse(line.encode().trim_end()), Ok(line));
    }

    #[test]
    fn join_may_carry_the_desk_secret() {
        let secret = "0123456789abcdef0123456789abcdef";
        for line in [
            ClientLine::Join {
                name: "alice",
                color: Some(Color::Cyan),
                desk: Some(secret),
            },
            ClientLine::Join {
                name: "alice",
                color: None,
                desk: Some(secret),
            },
        ] {
            assert_eq!(ClientLine::parse(line.encode().trim_end()), Ok(line));
        }
        assert!(ClientLine::parse(&format!("/join alice {secret} cyan")).is_err());
        assert!(ClientLine::parse("/join alice cyan red").is_err());
        assert!(matches!(
            ClientLine::parse("/join alice 0123"),
            Err(ParseError::BadColor(_))
        ));
    }

    #[test]
    fn commands() {
        assert_eq!(ClientLine::parse("/who"), Ok(ClientLine::Who));
        assert_eq!(ClientLine::parse("/quit"), Ok(ClientLine::Quit));
        assert_eq!(ClientLine::parse("/ping"), Ok(ClientLine::Ping));
        assert_eq!(ClientLine::parse("  "), Ok(ClientLine::Blank));
    }

    #[test]
    fn unknown_command() {
        assert_eq!(
            ClientLine::parse("/dance"),
            Err(ParseError::UnknownCommand("dance".into()))
        );
        assert_eq!(
            ClientLine::parse("/who extra"),
            Err(ParseError::UnknownCommand("who extra".into()))
        );
    }

    #[test]
    fn resume_round_trips() {
        let line = ClientLine::Resume {
            epoch: "5f3a9c",
            after: MessageId::new(17, 3),
            desk: None,
        };
        assert_eq!(line.encode(), "/resume 5f3a9c 17-3\n");
        assert_eq!(ClientLine::parse("/resume 5f3a9c 17-3"), Ok(line));
    }

    #[test]
    fn resume_may_carry_the_desk_secret() {
        assert_eq!(
            ClientLine::parse("/resume e1 41 00ff"),
            Ok(ClientLine::Resume {
                epoch: "e1",
                after: MessageId::from_sequence(41),
                desk: Some("00ff")
            })
        );
    }

    #[test]
    fn msg_takes_a_name_and_the_rest_of_the_line() {
        let line = ClientLine::parse("/msg bob  see you at 3 <SEP> ok").unwrap();
        assert_eq!(
            line,
            ClientLine::Direct {
                to: "bob",
                text: " see you at 3 <SEP> ok"
            }
        );
        assert_eq!(line.encode(), "/msg bob  see you at 3 <SEP> ok\n");
        assert_eq!(ClientLine::parse("/msg bob"), Err(ParseError::BadDirect));
        assert_eq!(ClientLine::parse("/msg bob   "), Err(ParseError::EmptyText));
        assert!(matches!(
            ClientLine::parse("/msg a<SEP>b hi"),
            Err(ParseError::BadName(_))
        ));
    }

    #[test]
    fn search_takes_its_words() {
        assert_eq!(
            ClientLine::parse("/search  quarterly report "),
            Ok(ClientLine::Search {
                words: "quarterly report",
                room: None
            })
        );
        assert_eq!(ClientLine::parse("/search"), Err(ParseError::BadSearch));
    }

    #[test]
    fn room_commands_round_trip() {
        for line in [
            "/room join #dev",
            "/room join #hr private",
            "/room part #dev",
            "/room part #dev off to lunch",
            "/room list",
            "/room topic #dev",
            "/room topic #dev release on friday",
            "/room invite #hr bob",
            "/room who #dev",
            "/room join #dev key s3cret",
            "/room mode #dev",
            "/room mode #dev +o-v bob carol",
            "/room kick #dev bob",
            "/room kick #dev bob too loud",
            "/to #dev hello <SEP> there",
            "/search #dev lunch plans",
            "/search lunch plans",
            "/tx t1 /to #dev hi",
        ] {
            let parsed = ClientLine::parse(line).unwrap_or_else(|e| panic!("{line}: {e}"));
            assert_eq!(parsed.encode(), format!("{line}\n"));
        }
    }

    #[test]
    fn a_reason_is_a_fourth_field_that_a_three_field_reader_survives() {
        let line = "LEAVE<SEP>t<SEP>bob<SEP>green<SEP>Quit: gone home";
        let Ok(ServerLine::Leave(who)) = ServerLine::parse(line) else {
            panic!("{line}");
        };
        assert_eq!((who.color, who.reason), (Color::Green, "Quit: gone home"));
        // What a reader of three fields sees: an unknown colour, so the
        // name's own, and the line still shown.
        let [_, name, color] = fields::<3>("t<SEP>bob<SEP>green<SEP>Quit: gone home").unwrap();
        assert_eq!(color_of(color, name), Color::for_name("bob"));
        assert_eq!(
            ClientLine::parse("/room part #dev"),
            Ok(ClientLine::Room(RoomCommand::Part {
                room: "#dev",
                reason: ""
            }))
        );
    }

    #[test]
    fn a_search_names_a_room_only_by_its_first_word() {
        assert_eq!(
            ClientLine::parse("/search #dev"),
            Ok(ClientLine::Search {
                words: "#dev",
                room: None
            })
        );
        assert_eq!(
            ClientLine::parse("/search #dev build"),
            Ok(ClientLine::Search {
                words: "build",
                room: Some("#dev")
            })
        );
    }

    #[test]
    fn bad_room_commands_are_refused() {
        assert_eq!(ClientLine::parse("/room"), Err(ParseError::BadRoomCommand));
        assert_eq!(
            ClientLine::parse("/room dance #dev"),
            Err(ParseError::BadRoomCommand)
        );
        assert_eq!(
            ClientLine::parse("/room join"),
            Err(ParseError::BadRoomCommand)
        );
        assert_eq!(
            ClientLine::parse("/room join #dev secret"),
            Err(ParseError::BadRoomCommand)
        );
        assert_eq!(
            ClientLine::parse("/room join dev"),
            Err(ParseError::BadRoom(RoomProblem::NoHash))
        );
        assert_eq!(
            ClientLine::parse("/room invite #hr"),
            Err(ParseError::BadRoomCommand)
        );
        for line in [
            "/room join #dev key",
            "/room join #dev key a b",
            "/room kick #dev",
            "/room mode",
        ] {
            assert_eq!(
                ClientLine::parse(line),
                Err(ParseError::BadRoomCommand),
                "{line}"
            );
        }
        assert_eq!(ClientLine::parse("/to #dev"), Err(ParseError::BadTo));
        assert_eq!(ClientLine::parse("/to #dev  "), Err(ParseError::EmptyText));
        assert_eq!(
            ClientLine::parse("/to #a,b hi"),
            Err(ParseError::BadRoom(RoomProblem::BadCharacter))
        );
        assert_eq!(
            ClientLine::parse("/room join #a b").map_err(|e| e.code()),
            Err(ErrorCode::BadCommand)
        );
    }

    #[test]
    fn tx_tags_a_message_or_a_direct_message() {
        let line = ClientLine::parse("/tx a1-B_2 alice<SEP>hi <SEP> there").unwrap();
        assert_eq!(
            line,
            ClientLine::Tagged {
                tx: "a1-B_2",
                line: Box::new(ClientLine::Say {
                    name: "alice",
                    text: "hi <SEP> there"
                })
            }
        );
        assert_eq!(line.encode(), "/tx a1-B_2 alice<SEP>hi <SEP> there\n");
        let direct = ClientLine::parse("/tx t /msg bob see you").unwrap();
        assert_eq!(direct.encode(), "/tx t /msg bob see you\n");
    }

    #[test]
    fn tx_refuses_bad_ids_and_other_commands() {
        for line in [
            "/tx",
            "/tx t1",
            "/tx bad!id alice<SEP>x",
            "/tx t1 /who",
            "/tx t1 /tx t2 alice<SEP>x",
        ] {
            assert_eq!(ClientLine::parse(line), Err(ParseError::BadTx), "{line}");
        }
        let long = "x".repeat(MAX_TX_ID_CHARS + 1);
        assert_eq!(
            ClientLine::parse(&format!("/tx {long} alice<SEP>x")),
            Err(ParseError::BadTx)
        );
        assert!(matches!(
            ClientLine::parse("/tx t1 a b<SEP>x"),
            Err(ParseError::BadName(_))
        ));
    }

    #[test]
    fn auth_takes_a_name_and_a_token() {
        let line = ClientLine::parse("/auth alice 0123abcd").unwrap();
        assert_eq!(
            line,
            ClientLine::Auth {
                name: "alice",
                token: "0123abcd"
            }
        );
        assert_eq!(line.encode(), "/auth alice 0123abcd\n");
        assert_eq!(ClientLine::parse("/auth alice"), Err(ParseError::BadAuth));
        assert!(matches!(
            ClientLine::parse("/auth alice tok extra"),
            Err(ParseError::UnknownCommand(_))
        ));
        assert!(matches!(
            ClientLine::parse("/auth a<SEP>b tok"),
            Err(ParseError::BadName(_))
        ));
    }

    #[test]
    fn trust_error_codes_travel() {
        for code in [
            ErrorCode::AuthFailed,
            ErrorCode::AuthRequired,
            ErrorCode::Revoked,
            ErrorCode::TlsRequired,
        ] {
            assert_eq!(ErrorCode::from_wire(code.as_str()), code);
        }
    }

    #[test]
    fn who_lists_idle_seconds() {
        assert_eq!(
            ServerLine::parse("WHO<SEP>2<SEP>alice 120<SEP>bob"),
            Ok(ServerLine::Who {
                count: 2,
                people: vec![
                    WhoEntry {
                        name: "alice",
                        idle_secs: 120
                    },
                    WhoEntry {
                        name: "bob",
                        idle_secs: 0
                    }
                ]
            })
        );
    }

    #[test]
    fn resume_needs_an_epoch_and_an_id() {
        for bad in [
            "/resume",
            "/resume abc",
            "/resume abc x1",
            "/resume a 1 2 3",
        ] {
            assert!(ClientLine::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(ParseError::BadResume.code(), ErrorCode::BadCommand);
    }

    #[test]
    fn an_unknown_colour_from_a_server_is_the_names_colour() {
        let Ok(ServerLine::Msg(chat)) =
            ServerLine::parse("MSG<SEP>7<SEP>t<SEP>alice<SEP>white<SEP>hi")
        else {
            panic!("expected a MSG");
        };
        assert_eq!(chat.color, Color::for_name("alice"));
    }

    #[test]
    fn msg_without_an_id_is_malformed() {
        assert_eq!(
            ServerLine::parse("MSG<SEP>2026-11-24T13:07:08.123Z<SEP>alice<SEP>red<SEP>hi"),
            Err(ParseError::Malformed)
        );
    }

    #[test]
    fn long_unknown_command_is_echoed_cut() {
        let long = format!("/{}", "x".repeat(1000));
        let Err(ParseError::UnknownCommand(echoed)) = ClientLine::parse(&long) else {
            panic!("expected an unknown command");
        };
        assert_eq!(echoed, format!("{}...", "x".repeat(MAX_ECHO_CHARS)));
    }

    #[test]
    fn plain_text_without_separator_is_refused() {
        assert_eq!(ClientLine::parse("hello"), Err(ParseError::NotAMessage));
    }

    #[test]
    fn empty_text_is_refused() {
        assert_eq!(
            ClientLine::parse("alice<SEP>  "),
            Err(ParseError::EmptyText)
        );
    }

    #[test]
    fn bad_names() {
        for name in ["", "has space", "esc\x1b", &"x".repeat(33), "bidi\u{202E}"] {
            let line = format!("{name}<SEP>hi");
            assert!(
                matches!(ClientLine::parse(&line), Err(ParseError::BadName(_))),
                "{name:?} should be refused"
            );
        }
        // A line starting with '/' is a command, so a name cannot.
        assert!(check_name("/slash").is_err());
        assert!(matches!(
            ClientLine::parse("/slash<SEP>hi"),
            Err(ParseError::UnknownCommand(_))
        ));
        assert!(check_name("José").is_ok());
        assert!(check_name(&"x".repeat(32)).is_ok());
    }

    #[test]
    fn bad_colour() {
        assert_eq!(
            ClientLine::parse("/join alice mauve"),
            Err(ParseError::BadColor("mauve".into()))
        );
    }

    #[test]
    fn msg_round_trips_with_separator_in_text() {
        let line = ServerLine::Msg(Chat {
            id: MessageId::from_sequence(7),
            time: "2026-11-24T13:07:08.123Z",
            name: "alice",
            color: Color::Red,
            text: "x<SEP>y",
        });
        let bytes = line.encode();
        let text = std::str::from_utf8(&bytes).unwrap();
        assert_eq!(
            text,
            "MSG<SEP>7<SEP>2026-11-24T13:07:08.123Z<SEP>alice<SEP>red<SEP>x<SEP>y\n"
        );
        assert_eq!(ServerLine::parse(text.trim_end()), Ok(line));
    }

    #[test]
    fn every_server_line_round_trips() {
        let presence = Presence {
            time: "2026-11-24T13:07:08.123Z",
            name: "bob",
            color: Color::Green,
            reason: "",
        };
        let with_reason = Presence {
            reason: "off to lunch <SEP> back at 2",
            ..presence.clone()
        };
        let room_chat = RoomChat {
            room: "#dev",
            chat: Chat {
                id: MessageId::from_sequence(9),
                time: "t",
                name: "a",
                color: Color::Blue,
                text: "x<SEP>y",
            },
        };
        let info = RoomInfo {
            room: "#dev",
            private: true,
            members: 3,
            topic: "release <SEP> friday",
        };
        let lines = [
            ServerLine::RoomMsg(room_chat.clone()),
            ServerLine::RoomHistory(room_chat.clone()),
            ServerLine::RoomFound(room_chat),
            ServerLine::Enter {
                room: "#dev",
                who: presence.clone(),
            },
            ServerLine::Exit {
                room: "#dev",
                who: presence.clone(),
            },
            ServerLine::Exit {
                room: "#dev",
                who: with_reason.clone(),
            },
            ServerLine::Leave(with_reason),
            ServerLine::InRoom(info.clone()),
            ServerLine::RoomListed(RoomInfo {
                private: false,
                topic: "",
                ..info
            }),
            ServerLine::Parted { room: "#dev" },
            ServerLine::Rooms { count: 4 },
            ServerLine::Topic {
                room: "#dev",
                time: "2026-12-06T13:07:08.000Z",
                by: "bob",
                text: "ship it",
            },
            ServerLine::Invited {
                room: "#hr",
                by: "carol",
            },
            ServerLine::Mode {
                room: "#dev",
                by: "bob",
                changes: "+ol carol 10",
            },
            ServerLine::Mode {
                room: "#dev",
                by: "",
                changes: "+nt",
            },
            ServerLine::Kicked {
                room: "#dev",
                name: "carol",
                by: "bob",
                reason: "too loud",
            },
            ServerLine::Sent {
                tx: "t-1",
                id: MessageId::new(1_732_540_028_123, 2),
            },
            ServerLine::Unsure {
                tx: "t-1",
                detail: "the log did not answer",
            },
            ServerLine::Unsent {
                tx: "t-1",
                detail: "the log is full",
            },
            ServerLine::History(Chat {
                id: MessageId::new(1_732_540_028_123, 2),
                time: "t",
                name: "a",
                color: Color::Blue,
                text: "old",
            }),
            ServerLine::Join(presence.clone()),
            ServerLine::Leave(presence),
            ServerLine::Welcome {
                name: "bob",
                color: Color::Green,
                online: 3,
                epoch: "5f3a9c",
                desk: "0123abcd",
            },
            ServerLine::Resumed {
                epoch: "5f3a9c",
                skipped: 12,
                replayed: 1000,
            },
            ServerLine::Notice {
                text: "messages cannot be saved",
            },
            ServerLine::Who {
                count: 2,
                people: vec![
                    WhoEntry {
                        name: "a",
                        idle_secs: 0,
                    },
                    WhoEntry {
                        name: "b",
                        idle_secs: 125,
                    },
                ],
            },
            ServerLine::Who {
                count: 0,
                people: vec![],
            },
            ServerLine::Direct(Direct {
                id: MessageId::from_sequence(9),
                time: "t",
                from: "alice",
                color: Color::Red,
                to: "bob",
                text: "psst <SEP> x",
            }),
            ServerLine::DirectHistory(Direct {
                id: MessageId::from_sequence(8),
                time: "t",
                from: "bob",
                color: Color::Blue,
                to: "alice",
                text: "earlier",
            }),
            ServerLine::Searched { count: 2 },
            ServerLine::Found(Found {
                chat: Chat {
                    id: MessageId::from_sequence(3),
                    time: "t",
                    name: "a",
                    color: Color::Green,
                    text: "found <SEP> it",
                },
                to: None,
            }),
            ServerLine::Found(Found {
                chat: Chat {
                    id: MessageId::from_sequence(4),
                    time: "t",
                    name: "a",
                    color: Color::Green,
                    text: "for you",
                },
                to: Some("bob"),
            }),
            ServerLine::Error {
                code: ErrorCode::NameTaken,
                detail: "taken",
            },
            ServerLine::Bye {
                reason: "server going down",
            },
            ServerLine::Pong,
        ];
        for line in lines {
            let bytes = line.encode();
            let text = std::str::from_utf8(&bytes).unwrap();
            assert_eq!(ServerLine::parse(text.trim_end()), Ok(line));
        }
    }

    /// A field holding ESC, BEL, CR, LF and a right-to-left override.
    const NASTY: &str = "a\x1b[31mb\x07c\rd\ne\u{202E}f";

    /// Asserts `bytes` frame as exactly one line and hold none of NASTY's
    /// raw controls.
    fn assert_one_clean_line(bytes: &[u8]) {
        use crate::line::{Line, LineReader};
        let text = std::str::from_utf8(bytes).unwrap();
        let body = text.strip_suffix('\n').expect("ends with a newline");
        for raw in ["\x1b", "\x07", "\r", "\n", "\u{202E}"] {
            assert!(!body.contains(raw), "{raw:?} in {body:?}");
        }
        let mut lines = 0;
        let _ = LineReader::new(usize::MAX).feed(bytes, |line| {
            assert!(matches!(line, Line::Complete(_)));
            lines += 1;
            std::ops::ControlFlow::Continue(())
        });
        assert_eq!(lines, 1, "{text:?}");
    }

    #[test]
    fn error_detail_is_cleaned() {
        let line = ServerLine::Error {
            code: ErrorCode::BadCommand,
            detail: NASTY,
        };
        let bytes = line.encode();
        assert_one_clean_line(&bytes);
        assert_eq!(
            bytes,
            b"ERR<SEP>bad-command<SEP>a^[[31mb^Gc^Md^Je<U+202E>f\n".to_vec()
        );
    }

    #[test]
    fn unknown_command_echo_is_cleaned() {
        let err = ClientLine::parse("/x\x1b]0;pwned\x07").unwrap_err();
        let detail = err.to_string();
        let bytes = ServerLine::Error {
            code: err.code(),
            detail: &detail,
        }
        .encode();
        assert_one_clean_line(&bytes);
    }

    #[test]
    fn bye_reason_is_cleaned() {
        assert_one_clean_line(&ServerLine::Bye { reason: NASTY }.encode());
    }

    #[test]
    fn who_names_are_cleaned() {
        let line = ServerLine::Who {
            count: 2,
            people: vec![
                WhoEntry {
                    name: "ok",
                    idle_secs: 1,
                },
                WhoEntry {
                    name: NASTY,
                    idle_secs: 2,
                },
            ],
        };
        assert_one_clean_line(&line.encode());
    }

    #[test]
    fn every_text_field_is_cleaned() {
        let chat = Chat {
            id: MessageId::ZERO,
            time: NASTY,
            name: NASTY,
            color: Color::Red,
            text: NASTY,
        };
        let presence = Presence {
            time: NASTY,
            name: NASTY,
            color: Color::Red,
            reason: NASTY,
        };
        let lines = [
            ServerLine::Msg(chat.clone()),
            ServerLine::History(chat),
            ServerLine::Join(presence.clone()),
            ServerLine::Leave(presence),
            ServerLine::Welcome {
                name: NASTY,
                color: Color::Red,
                online: 1,
                epoch: NASTY,
                desk: NASTY,
            },
            ServerLine::Resumed {
                epoch: NASTY,
                skipped: 0,
                replayed: 0,
            },
            ServerLine::Notice { text: NASTY },
        ];
        for line in lines {
            assert_one_clean_line(&line.encode());
        }
    }

    #[test]
    fn clean_msg_encodes_byte_for_byte_as_given() {
        let line = ServerLine::Msg(Chat {
            id: MessageId::from_sequence(3),
            time: "2026-11-24T13:07:08.123Z",
            name: "José",
            color: Color::Cyan,
            text: "héllo ✓ 李雷 <SEP> ^[ already cleaned",
        });
        assert_eq!(
            line.encode(),
            "MSG<SEP>3<SEP>2026-11-24T13:07:08.123Z<SEP>José<SEP>cyan<SEP>héllo ✓ 李雷 <SEP> ^[ already cleaned\n"
                .as_bytes()
        );
    }

    #[test]
    fn unknown_error_code_is_kept_as_other() {
        assert_eq!(
            ServerLine::parse("ERR<SEP>future-code<SEP>something"),
            Ok(ServerLine::Error {
                code: ErrorCode::Other,
                detail: "something"
            })
        );
    }

    #[test]
    fn unknown_kind_is_malformed() {
        assert_eq!(ServerLine::parse("HELLO"), Err(ParseError::Malformed));
        assert_eq!(
            ServerLine::parse("MSG<SEP>only"),
            Err(ParseError::Malformed)
        );
    }

    #[test]
    fn timestamp_round_trips() {
        let now = timestamp_now();
        assert!(now.ends_with('Z'), "{now}");
        assert!(parse_timestamp(&now).is_some());
        assert!(parse_timestamp("yesterday").is_none());
    }
}
