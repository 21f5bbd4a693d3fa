//! Our lines as an IRC client is sent them: messages as `PRIVMSG` (with
//! `@time` and `@msgid=EPOCH/ID` when negotiated, split to fit a line, a
//! `/me` as CTCP ACTION), presence as `JOIN`, `PART` and `QUIT`, `WELCOME`
//! as the welcome burst, `BYE` as `ERROR`.
//!
//! A broadcast line (a message, a presence, a topic, a notice) is rendered
//! once for every client with the same render key, so what it becomes
//! depends only on the line and the key, never on who gets it. Lines sent
//! to one client (its `WELCOME`, `INROOM`, a refusal) may name it.

use chat_shared::message::{Chat as Said, Direct, RoomInfo};
use chat_shared::room::{room_key, MAIN_ROOM};
use chat_shared::{ErrorCode, ServerLine};

use super::line::{self, Out};
use super::{caps, history, prefix_of, Session};
use crate::chat::Chat;
use crate::frames::Frame;

/// How a `/me` travels in our protocol (`client/src/chat_text.rs`).
const ACTION_PREFIX: &str = "/me ";

impl Session {
    /// Our line `frame` as this client is sent it, or `None`.
    pub fn render(&self, frame: &Frame, chat: &Chat) -> Option<Frame> {
        let text = std::str::from_utf8(frame).ok()?.trim_end_matches('\n');
        let line = ServerLine::parse(text).ok()?;
        if let Some(answer) = self.answer_history(&line, chat) {
            return answer;
        }
        let mut out = Out::new();
        // History on joining goes to clients that can show its times, and
        // that do not fetch it themselves.
        let replayed_ok = self.caps.has(caps::SERVER_TIME) && !self.caps.has(caps::CHATHISTORY);
        match line {
            ServerLine::Msg(said) if self.shows_main => {
                self.message(&mut out, chat, MAIN_ROOM, &said)
            }
            ServerLine::History(said) if self.shows_main && replayed_ok => {
                self.message(&mut out, chat, MAIN_ROOM, &said)
            }
            ServerLine::RoomMsg(said) => self.message(&mut out, chat, said.room, &said.chat),
            ServerLine::RoomHistory(said) if replayed_ok => {
                self.message(&mut out, chat, said.room, &said.chat)
            }
            ServerLine::Direct(direct) => self.direct(&mut out, chat, &direct),
            ServerLine::DirectHistory(direct) if replayed_ok => {
                self.direct(&mut out, chat, &direct)
            }
            ServerLine::Join(who) if self.shows_main => {
                out.line("", &self.prefix(chat, who.name), "JOIN", &[MAIN_ROOM]);
            }
            // Only those who hear `#main`, or shared a room with the
            // leaver, are sent it (`Effect::Departure`).
            ServerLine::Leave(who) => {
                let reason = match who.reason {
                    "" => "Quit: left",
                    reason => reason,
                };
                out.text_line("", &self.prefix(chat, who.name), "QUIT", &[reason]);
            }
            ServerLine::Enter { room, who } => {
                out.line("", &self.prefix(chat, who.name), "JOIN", &[room]);
            }
            ServerLine::Exit { room, who } => {
                let prefix = self.prefix(chat, who.name);
                match who.reason {
                    "" => out.line("", &prefix, "PART", &[room]),
                    reason => out.text_line("", &prefix, "PART", &[room, reason]),
                }
            }
            ServerLine::InRoom(RoomInfo { room, .. }) => {
                out = self.joined(chat, chat.room_named(room)?);
            }
            ServerLine::Parted { room } => {
                // Our `PARTED` has no reason: the one this client gave.
                let prefix = self.own_prefix(chat);
                match self
                    .settings
                    .people()
                    .get(self.me())
                    .and_then(|p| p.part_reason(room))
                {
                    Some(reason) => out.text_line("", &prefix, "PART", &[room, reason]),
                    None => out.line("", &prefix, "PART", &[room]),
                }
            }
            ServerLine::Topic { room, by, text, .. } => {
                let by = match by {
                    "" => self.settings.server_name.clone(),
                    by => self.prefix(chat, by),
                };
                out.text_line("", &by, "TOPIC", &[room, text]);
            }
            ServerLine::Invited { room, by } => {
                let target = self.nick(chat).to_string();
                out.line("", &self.prefix(chat, by), "INVITE", &[&target, room]);
            }
            // An answer to a desk's `/room mode` (BY empty) is not one an
            // IRC client asks for: it reads the modes itself.
            ServerLine::Mode { by: "", .. } => return None,
            ServerLine::Mode { room, by, changes } => {
                let mut params = vec![room];
                params.extend(changes.split(' ').filter(|word| !word.is_empty()));
                out.line("", &self.prefix(chat, by), "MODE", &params);
            }
            ServerLine::Kicked {
                room,
                name,
                by,
                reason,
            } => {
                // RFC 2812: with no reason, the kicker's nick.
                let reason = if reason.is_empty() { by } else { reason };
                out.text_line("", &self.prefix(chat, by), "KICK", &[room, name, reason]);
            }
            ServerLine::Welcome { name, .. } => self.welcome(&mut out, chat, name),
            ServerLine::Error { code, detail } => self.refusal(&mut out, chat, code, detail),
            ServerLine::Unsure { detail, .. } => self.notice(&mut out, chat, detail),
            ServerLine::Bye { reason } => {
                out.text_line("", "", "ERROR", &[&format!("Closing link: {reason}")]);
            }
            ServerLine::Notice { text } => {
                out.text_line("", &self.settings.server_name, "NOTICE", &["*", text]);
            }
            _ => return None,
        }
        (!out.is_empty()).then(|| Frame::new(out.into_bytes()))
    }

    /// A line of a `CHATHISTORY` replay in progress: collected, and the
    /// answer written after the last (`None`: not such a line).
    fn answer_history(&self, line: &ServerLine<'_>, chat: &Chat) -> Option<Option<Frame>> {
        let mut pending = self.aside.as_ref()?.history.borrow_mut();
        let query = pending.as_mut()?;
        let target = room_key(&query.target);
        match line {
            ServerLine::Resumed { replayed, .. } => query.expected = Some(*replayed),
            ServerLine::History(said) => {
                query.seen += 1;
                if target == room_key(MAIN_ROOM) {
                    query.found.push(history::Found::of(said));
                }
            }
            ServerLine::RoomHistory(said) => {
                query.seen += 1;
                if target == room_key(said.room) {
                    query.found.push(history::Found::of(&said.chat));
                }
            }
            ServerLine::DirectHistory(_) => query.seen += 1,
            _ => return None,
        }
        if !query.is_complete() {
            return Some(None);
        }
        // The box is given back at the client's next line.
        let query = pending.take()?;
        let out = self.history_batch(chat, &query.target, query.answer());
        Some(Some(Frame::new(out.into_bytes())))
    }

    /// `messages` of `target` as a `chathistory` batch (when the client
    /// takes batches).
    pub(super) fn history_batch(
        &self,
        chat: &Chat,
        target: &str,
        messages: &[history::Found],
    ) -> Out {
        let mut out = Out::new();
        let server = &self.settings.server_name;
        let batch = self.caps.has(caps::BATCH);
        let id = format!("history{}", messages.first().map_or(0, |m| m.id.major()));
        if batch {
            let start = format!("+{id}");
            out.line("", server, "BATCH", &[&start, "chathistory", target]);
        }
        for message in messages {
            let mut tags = self.tags(chat, &message.time, &message.name, &message.id.to_string());
            if batch {
                tags.insert(0, format!("batch={id}"));
            }
            let prefix = self.prefix(chat, &message.name);
            self.privmsg(&mut out, &tags, &prefix, target, &message.text);
        }
        if batch {
            out.line("", server, "BATCH", &[&format!("-{id}")]);
        }
        out
    }

    /// A room message as `PRIVMSG`s to `target`.
    fn message(&self, out: &mut Out, chat: &Chat, target: &str, said: &Said<'_>) {
        let tags = self.tags(chat, said.time, said.name, &said.id.to_string());
        let prefix = self.prefix(chat, said.name);
        self.privmsg(out, &tags, &prefix, target, said.text);
    }

    /// A direct message, to its reader or (echoed) its writer.
    fn direct(&self, out: &mut Out, chat: &Chat, direct: &Direct<'_>) {
        let tags = self.tags(chat, direct.time, direct.from, &direct.id.to_string());
        let prefix = self.prefix(chat, direct.from);
        self.privmsg(out, &tags, &prefix, direct.to, direct.text);
    }

    /// `PRIVMSG target :text` (`NOTICE` for a notice's text), split into
    /// as many lines as the limit needs, each piece of an action its own
    /// action.
    fn privmsg(&self, out: &mut Out, tags: &[String], prefix: &str, target: &str, text: &str) {
        let (command, text) = match text.strip_prefix(chat_shared::NOTICE_PREFIX) {
            Some(notice) => ("NOTICE", notice),
            None => ("PRIVMSG", text),
        };
        let (action, text) = match text.strip_prefix(ACTION_PREFIX) {
            Some(action) => (true, action),
            None => (false, text),
        };
        // ":prefix PRIVMSG target :" and "\r\n", and the CTCP wrapping.
        let overhead = prefix.len() + target.len() + 14 + if action { 9 } else { 0 };
        let pieces = line::split_text(text, line::MAX_LINE_BYTES.saturating_sub(overhead));
        for (n, piece) in pieces.iter().enumerate() {
            let tags = piece_tags(tags, n);
            let piece = match action {
                true => format!("\x01ACTION {piece}\x01"),
                false => (*piece).to_string(),
            };
            out.text_line(&tags, prefix, command, &[target, &piece]);
        }
    }

    /// The tags of a message for this client's capabilities.
    fn tags(&self, chat: &Chat, time: &str, name: &str, id: &str) -> Vec<String> {
        let mut tags = Vec::new();
        if self.caps.has(caps::SERVER_TIME) {
            tags.push(format!("time={time}"));
        }
        if self.caps.has(caps::MESSAGE_TAGS) {
            tags.push(format!("msgid={}/{id}", chat.epoch()));
        }
        if self.caps.has(caps::ACCOUNT_TAG) {
            if let Some(account) = chat.conn_named(name).and_then(|id| chat.account_of(id)) {
                tags.push(format!("account={}", escape_tag(account)));
            }
        }
        tags
    }

    /// `name!user@host` for a person our rules know by `name`.
    fn prefix(&self, chat: &Chat, name: &str) -> String {
        prefix_of(&self.settings.people(), chat, name)
    }

    /// The welcome burst: `001`...`005`, the user counts, no MOTD.
    fn welcome(&self, out: &mut Out, chat: &Chat, name: &str) {
        let server = &self.settings.server_name;
        let line = |out: &mut Out, code: &str, params: &[&str]| {
            let mut all = vec![name];
            all.extend_from_slice(params);
            out.text_line("", server, code, &all);
        };
        line(
            out,
            "001",
            &[&format!("Welcome to the office chat, {name}")],
        );
        let host = format!("Your host is {server}, running version {}", super::VERSION);
        line(out, "002", &[&host]);
        let created = format!("This server was created {}", self.settings.started);
        line(out, "003", &[&created]);
        line(
            out,
            "004",
            &[server, super::VERSION, "iw", "biklmnostv", "bklov"],
        );
        for tokens in ISUPPORT {
            let mut params: Vec<&str> = tokens.to_vec();
            params.push("are supported by this server");
            line(out, "005", &params);
        }
        self.lusers(out, chat);
        line(out, "422", &["There is no message of the day"]);
    }

    /// A refusal the rules sent later (the store's, or a claim's).
    fn refusal(&self, out: &mut Out, chat: &Chat, code: ErrorCode, detail: &str) {
        match code {
            ErrorCode::NameTaken => {
                let asked = self.asked_nick().unwrap_or("*").to_string();
                self.numeric(out, chat, "433", &[&asked, "Nickname is already in use"]);
            }
            _ => self.notice(out, chat, detail),
        }
    }

    /// A notice from the server to this client.
    fn notice(&self, out: &mut Out, chat: &Chat, text: &str) {
        let nick = self.nick(chat).to_string();
        out.text_line("", &self.settings.server_name, "NOTICE", &[&nick, text]);
    }
}

/// The `005` tokens, at most 13 a line.
const ISUPPORT: [&[&str]; 2] = [
    &[
        "AWAYLEN=200",
        "CASEMAPPING=ascii",
        "CHANLIMIT=#:50",
        "CHANMODES=b,k,l,imnst",
        "CHANNELLEN=33",
        "CHANTYPES=#",
        "CLIENTTAGDENY=*",
        "NETWORK=office",
        "NICKLEN=32",
        "PREFIX=(ov)@+",
        "TOPICLEN=390",
    ],
    &[
        "MAXLIST=b:50",
        "MODES=6",
        "MAXTARGETS=4",
        "TARGMAX=PRIVMSG:4,NOTICE:4,NAMES:,JOIN:,PART:,KICK:1",
        "CHATHISTORY=1000",
        "MSGREFTYPES=msgid,timestamp",
    ],
];

/// The tags of piece `n` of a split message: its `msgid` made unique.
fn piece_tags(tags: &[String], n: usize) -> String {
    tags.iter()
        .map(|tag| match tag.strip_prefix("msgid=") {
            Some(id) if n > 0 => format!("msgid={id}.{}", n + 1),
            _ => tag.clone(),
        })
        .collect::<Vec<_>>()
        .join(";")
}

/// A tag value with `;`, spaces and backslashes escaped.
fn escape_tag(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            ';' => escaped.push_str("\\:"),
            ' ' => escaped.push_str("\\s"),
            '\\' => escaped.push_str("\\\\"),
            '\r' => escaped.push_str("\\r"),
            '\n' => escaped.push_str("\\n"),
            c => escaped.push(c),
        }
    }
    escaped
}
