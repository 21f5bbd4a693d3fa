//! The chat protocol, in one place: what travels between `chat-server` and
//! `chat-client` (and anything else that speaks it, such as `nc` or `chat-load`).
//!
//! # Wire format
//!
//! UTF-8 text lines. A line ends at `\n`, `\r\n` or a bare `\r` (both sides
//! send `\n`). Fields within a line are separated by the [`SEPARATOR`] token
//! `<SEP>`, as in the seed project.
//!
//! ## Client to server
//!
//! | line                    | meaning |
//! |-------------------------|---------|
//! | `NAME<SEP>TEXT`         | say TEXT as NAME; joins as NAME first if this connection has no name yet |
//! | `/join NAME [COLOR] [DESK]` | take NAME (and a colour) without saying anything; a desk coming back adds the secret DESK from its first `WELCOME`, to stay the same desk (and, in a room shared by several servers, take its name back from a server that lost it) |
//! | `/who`                  | ask who is online |
//! | `/ping`                 | keep-alive; answered with `PONG` |
//! | `/quit`                 | leave; answered with `BYE`, then the server closes |
//! | `/resume EPOCH ID [DESK]` | a desk coming back: replay what came after message ID of log EPOCH (and, with the secret DESK from its first `WELCOME`, its own direct messages) |
//! | `/msg NAME TEXT`        | say TEXT to NAME only (online now); both get a `DM` |
//! | `/search [#ROOM] WORDS` | the last 20 messages holding every word: of every room the desk is in (and its own direct messages), or of #ROOM alone |
//! | `/auth NAME TOKEN`      | on a server run with `--auth token`: the first line, proving this desk is NAME; until it is accepted the connection gets nothing but `ERR auth-required` |
//! | `/to #ROOM TEXT`        | say TEXT in #ROOM, a room this desk is in (`/to #main TEXT` is `NAME<SEP>TEXT`); its members get an `RMSG` |
//! | `/room join #ROOM [private \| key KEY]` | enter #ROOM, making it if it is new (`private`: only those its members invite may see, enter, read or search it; KEY: the key of a `+k` room); answered `INROOM` and its recent history as `RHIST`. The maker of a new room is its operator, and a new room is `+nt`. Refused with `banned`, `bad-key`, `room-full` or `invite-only` when the room's modes keep this desk out (an invitation lets it past `+i`, `+l` and `+b`) |
//! | `/room part #ROOM [REASON]` | leave #ROOM (`#main` cannot be left), saying why to its members if REASON is given; answered `PARTED` |
//! | `/room list`            | the rooms this desk may see: `ROOMS` and a `ROOM` line each |
//! | `/room topic #ROOM [TEXT]` | set #ROOM's topic (at most 390 bytes), or ask for it: `TOPIC` |
//! | `/room invite #ROOM NAME` | let NAME (online now) into the private #ROOM this desk is in; NAME gets `INVITED` |
//! | `/room who #ROOM`       | who is in #ROOM now: a `WHO` line |
//! | `/room mode #ROOM [CHANGES]` | change #ROOM's modes, written as IRC writes them (`+m`, `+o bob`, `+kl KEY 10`, `-b MASK`), or ask for them (a `MODE` line with BY empty; `/room mode #ROOM b` lists the bans). Operators only; see "Room modes" below |
//! | `/room kick #ROOM NAME [REASON]` | put NAME out of #ROOM (operators only); every member, NAME included, gets `KICKED` |
//! | `/tx TX LINE`           | LINE (`NAME<SEP>TEXT`, `/msg NAME TEXT` or `/to #ROOM TEXT`) with the desk's own ID TX for it (1 to 32 letters, digits, `-`, `_`): stored once per desk and TX however often it is sent, answered with `SENT` (or `UNSURE`) |
//!
//! TEXT may itself contain `<SEP>`: only the first one splits. A blank line is
//! ignored. Anything else gets an `ERR` reply.
//!
//! ## Server to client
//!
//! | line                                                | meaning |
//! |-----------------------------------------------------|---------|
//! | `MSG<SEP>ID<SEP>TIME<SEP>NAME<SEP>COLOR<SEP>TEXT`   | a live message (the sender gets it too) |
//! | `HIST<SEP>ID<SEP>TIME<SEP>NAME<SEP>COLOR<SEP>TEXT`  | an earlier message: the recent history on connect, or what a `/resume` missed; oldest first |
//! | `JOIN<SEP>TIME<SEP>NAME<SEP>COLOR`                  | NAME joined |
//! | `LEAVE<SEP>TIME<SEP>NAME<SEP>COLOR[<SEP>REASON]`    | NAME left (REASON: why, in its words, only if it said; an IRC client's QUIT, or a KILL) |
//! | `WELCOME<SEP>NAME<SEP>COLOR<SEP>ONLINE<SEP>EPOCH<SEP>DESK` | this connection is now NAME; ONLINE people are here; EPOCH names the room's log; DESK is this desk's secret, for `/resume` |
//! | `DM<SEP>ID<SEP>TIME<SEP>FROM<SEP>COLOR<SEP>TO<SEP>TEXT` | a direct message, to its writer and its reader only |
//! | `HISTDM<SEP>ID<SEP>TIME<SEP>FROM<SEP>COLOR<SEP>TO<SEP>TEXT` | a direct message replayed after `/resume`, to the desk that wrote or got it |
//! | `SEARCH<SEP>COUNT`                                  | answer to `/search`: COUNT `FOUND` (or `RFOUND`) lines follow |
//! | `FOUND<SEP>ID<SEP>TIME<SEP>NAME<SEP>COLOR<SEP>TO<SEP>TEXT` | one result, oldest first; TO is empty for a room message |
//! | `RESUME<SEP>EPOCH<SEP>SKIPPED<SEP>REPLAYED`         | answer to `/resume`: REPLAYED missed messages follow as `HIST` (SKIPPED more were too many to replay); a different EPOCH means another log, and its recent history follows instead |
//! | `WHO<SEP>COUNT<SEP>NAME IDLE<SEP>...`               | who is online (at most [`MAX_WHO_NAMES`] listed), each with the seconds since they last said anything |
//! | `NOTE<SEP>TEXT`                                     | something every desk should know (the log cannot save) |
//! | `ERR<SEP>CODE<SEP>DETAIL`                           | a request was refused; the connection stays open, except after `auth-failed`, `revoked` and `tls-required` |
//! | `BYE<SEP>REASON`                                    | the server is about to close this connection |
//! | `PONG`                                              | answer to `/ping` |
//! | `RMSG<SEP>ROOM<SEP>ID<SEP>TIME<SEP>NAME<SEP>COLOR<SEP>TEXT` | a live message in ROOM (any room but `#main`, whose messages are `MSG`) |
//! | `RHIST<SEP>ROOM<SEP>ID<SEP>TIME<SEP>NAME<SEP>COLOR<SEP>TEXT` | an earlier message of ROOM: its history on entering, or what a `/resume` missed |
//! | `RFOUND<SEP>ROOM<SEP>ID<SEP>TIME<SEP>NAME<SEP>COLOR<SEP>TEXT` | one search result from ROOM (counted in `SEARCH`) |
//! | `ENTER<SEP>ROOM<SEP>TIME<SEP>NAME<SEP>COLOR` / `EXIT<SEP>...[<SEP>REASON]` | NAME entered / left ROOM, a room this desk is in (EXIT's REASON as LEAVE's: a PART's) |
//! | `INROOM<SEP>ROOM<SEP>ACCESS<SEP>MEMBERS<SEP>TOPIC`  | this desk is in ROOM (it entered, or came back to it on joining); ACCESS is `public` or `private`; `RHIST` lines follow |
//! | `PARTED<SEP>ROOM`                                   | this desk left ROOM |
//! | `ROOMS<SEP>COUNT`                                   | answer to `/room list`: COUNT `ROOM` lines follow, as `INROOM`'s fields |
//! | `TOPIC<SEP>ROOM<SEP>TIME<SEP>BY<SEP>TEXT`           | ROOM's topic, as just set (to its members) or as asked; empty fields if none |
//! | `INVITED<SEP>ROOM<SEP>BY`                           | BY let this desk into the private ROOM |
//! | `MODE<SEP>ROOM<SEP>BY<SEP>CHANGES`                  | BY changed ROOM's modes (to its members); with BY empty, the answer to `/room mode #ROOM`: its modes now |
//! | `KICKED<SEP>ROOM<SEP>NAME<SEP>BY<SEP>REASON`        | BY put NAME out of ROOM (to its members and to NAME, who is out of it from then on) |
//! | `SENT<SEP>TX<SEP>ID`                                | the line the desk tagged TX is stored as message ID; its copy (`MSG`, `RMSG` or `DM`) follows, unless it was stored before (a resend) |
//! | `UNSENT<SEP>TX<SEP>DETAIL`                          | the line the desk tagged TX was certainly not stored (the log refused it), so nobody got it: sending it again is safe |
//! | `UNSURE<SEP>TX<SEP>DETAIL`                          | the server cannot tell whether the line tagged TX was stored (its log did not answer in time): the desk sends it again with the same TX, which stores it at most once |
//!
//! ## Room modes
//!
//! A room's modes are IRC's channel modes, for desks and IRC clients alike
//! (an IRC channel is a room). Flags: `i` (invite only), `m` (moderated:
//! only operators and voiced desks speak; others get `ERR cannot-send`),
//! `n` (no messages from desks outside the room), `s` (secret: not listed,
//! and its members hidden, to desks outside it), `t` (only operators set
//! the topic). With an argument: `k KEY` (key; 1 to 23 printable
//! characters, no spaces), `l COUNT` (most members; not a positive number
//! is ignored), `b MASK` (ban `nick!user@host` masks, `*` and `?`; at most
//! 50), `o NAME` and `v NAME` (operator, voice: NAME must be in the room).
//! At most 6 changes with arguments a line. The maker of a room is its
//! operator. A change of modes goes through the room's log, so servers
//! sharing it agree, but modes are not kept: a room the server reads back
//! from its log after a restart is `+n`, without operators, and a room
//! everyone left forgets its modes.
//!
//! Every `NAME<SEP>TEXT` is answered once: its `MSG` copy, or an `ERR`. The
//! log's answers (the copy, or `ERR not-saved`) come in the order the
//! messages were sent; a refusal by the room's rules (a taken name, an empty
//! text) comes at once, possibly before the copy of an earlier message.
//!
//! ID is assigned by the room's log: unique and strictly increasing across
//! every room of the log (one sequence, so one `/resume` cursor covers every
//! room a desk is in), a number or two joined by `-` ([`MessageId`]); desks
//! compare IDs and nothing else. TIME is set by the server, in UTC, as RFC 3339 with
//! milliseconds (`2026-11-24T13:07:08.123Z`). COLOR is one of the [`Color`]
//! names. TEXT is always the last field, so a receiver splits at most five
//! times and TEXT
//! arrives unchanged even if it holds `<SEP>`. Every text field (TEXT, NAME,
//! DETAIL, REASON, ...) is cleaned as the line is encoded (see [`sanitize`]),
//! so no server line carries a control character.
//!
//! # Layout
//!
//! - [`line`](mod@line): splits a byte stream into bounded lines.
//! - [`message`]: parses and encodes both directions' lines.
//! - [`id`]: message IDs and their order.
//! - [`irc`]: IRC lines, read and written (the server's IRC desks, the load
//!   tool's).
//! - [`name`]: which names may be taken, and when two are the same name.
//! - [`room`](mod@room): room names, and when two are the same room.
//! - [`sanitize`]: makes peer text safe to relay and to print.
//! - [`seed`]: the seed project's Python desks: their frames, and what they
//!   are sent.
//! - [`color`]: the colour palette names travel as.
//! - [`fingerprint`]: how a TLS certificate's SHA-256 is written and read,
//!   and the rustls verifier that trusts a certificate by it.

#![deny(missing_docs)]

pub mod color;
pub mod fingerprint;
pub mod id;
pub mod irc;
pub mod line;
pub mod message;
pub mod name;
pub mod room;
pub mod sanitize;
pub mod seed;

pub use color::Color;
pub use fingerprint::{Fingerprint, FingerprintVerifier};
pub use id::MessageId;
pub use line::{Line, LineReader};
pub use message::{ClientLine, ErrorCode, ParseError, RoomCommand, ServerLine};

/// Splits the fields of a line. Kept from the seed project so that its users
/// (and its `nc` habits) carry over.
pub const SEPARATOR: &str = "<SEP>";

/// What the text of an IRC client's `NOTICE` starts with in our lines (as
/// an action's starts with `/me `): the server's IRC front door writes it and
/// gives it back to IRC clients as a `NOTICE`; a desk shows the words after
/// it as a plain line.
pub const NOTICE_PREFIX: &str = "/notice ";

/// The port the seed project listened on, kept so desks need no new setting.
pub const DEFAULT_PORT: u16 = 5002;

/// Longest line, in bytes without the newline, that either side accepts by
/// default. A chat message longer than a screenful of text is almost surely a
/// paste gone wrong or an attack, and a fixed bound keeps every read buffer
/// bounded.
pub const DEFAULT_MAX_LINE_BYTES: usize = 4096;

/// Longest line, in bytes, a client accepts from the server. Cleaning can
/// make a line's text, or an `ERR` detail that echoes a client's line, up to
/// four times longer than the client sent it (a two-byte C1 control becomes
/// the eight bytes `<U+009B>`), and the other fields come on top.
pub const MAX_SERVER_LINE_BYTES: usize = 4 * DEFAULT_MAX_LINE_BYTES + 1024;

/// Longest name, in characters. Names are shown before every message, so a
/// long one crowds the screen.
pub const MAX_NAME_CHARS: usize = 32;

/// Most names listed in one `WHO` reply. With thousands of clients a full list
/// would be longer than a line may be; the count is always exact.
pub const MAX_WHO_NAMES: usize = 100;
