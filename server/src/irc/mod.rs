//! IRC on the same server: an IRC client is told apart on its first line
//! ([`is_first_line`]), and from then on its [`Session`] turns what it
//! sends into lines of our protocol for the rules, and our lines into IRC
//! for it. An IRC user is a person like any other: a name taken with
//! `/join`, in `#main` and the rooms it joins, in `/who`.
//!
//! - [`line`]: reading and writing IRC lines.
//! - [`caps`]: the IRCv3 capabilities offered.
//! - [`registration`]: `CAP`, `NICK`, `USER`, `PASS`, `AUTHENTICATE`, until
//!   the name is taken.
//! - [`commands`]: what a registered client sends.
//! - [`render`]: our lines as IRC (a broadcast rendered once per render key).
//! - [`history`]: `CHATHISTORY` from the room's log.
//! - [`people`]: what IRC knows of people that our rules do not (user names,
//!   real names, away messages, user modes).
//! - [`nick`]: `NICK` once registered.
//! - [`operators`]: `OPER`, `KILL`, `WALLOPS` and user modes.
//! - [`whowas`]: the nicks of IRC clients that left.
//! - [`server_info`]: `LUSERS` and `INFO`.
//!
//! Most commands ARE our commands: `PRIVMSG #room` is `/to #room`, `JOIN` is
//! `/room join`, and the rules answer with our lines, which
//! [`Session::render`] writes as IRC. What our protocol has no line for
//! (the welcome burst, `NAMES`, `WHO`, `WHOIS`, `MODE`) is answered here,
//! reading the rules. The rules keep who is where: `#main` is everyone with
//! a name, and an IRC client shows it as a channel only if it joined it
//! (`--irc-join-main`, or `JOIN #main`).
//!
//! An IRC client is answered strictly in order: after a line that goes to
//! the store (a message, a room change) its next lines wait until the store
//! has answered ([`crate::chat::Chat::hold_until_answered`]), so that a
//! `PING` is answered after the messages sent before it.

pub mod caps;
mod commands;
mod history;
pub mod line;
mod modes;
mod nick;
pub mod operators;
pub mod people;
mod registration;
mod render;
mod server_info;
mod whowas;

use std::sync::{Arc, Mutex, MutexGuard};

use chat_shared::{ClientLine, Line};

use crate::chat::Context;
use crate::chat::{Chat, Input};
use crate::close::AfterLine;
use crate::effect::Effect;
use crate::frames::Frame;
use crate::ids::ConnId;
use crate::secret::Oper;

use caps::Caps;
use line::{Message, Out};
use people::People;
use registration::Registering;

/// The name `004` and `VERSION` give.
const VERSION: &str = concat!("office-chat-", env!("CARGO_PKG_VERSION"));

/// What every IRC session of a server shares: its flags, and what IRC
/// knows of the people on it.
#[derive(Debug)]
pub struct Settings {
    /// The name the server gives itself (`--irc-server-name`); it needs a
    /// dot to look like a server's.
    pub server_name: String,
    /// Whether a client is joined to `#main` at registration
    /// (`--irc-join-main`, the default).
    pub join_main: bool,
    /// When the server started, for `003`.
    pub started: String,
    /// Who may become an operator (`--irc-oper`).
    opers: Vec<Oper>,
    /// User names, real names and away messages, by connection.
    people: Mutex<People>,
    /// The most people online at once so far, for `LUSERS`.
    peak: std::sync::atomic::AtomicUsize,
}

impl Settings {
    /// The settings of a server called `server_name`, whose operators are
    /// `opers`.
    pub fn new(server_name: &str, join_main: bool, opers: Vec<Oper>) -> Settings {
        Settings {
            server_name: server_name.to_string(),
            join_main,
            started: chat_shared::message::timestamp_now(),
            opers,
            people: Mutex::new(People::default()),
            peak: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// The most people online at once so far, `online` now included.
    pub fn peak(&self, online: usize) -> usize {
        let before = self
            .peak
            .fetch_max(online, std::sync::atomic::Ordering::Relaxed);
        before.max(online)
    }

    /// What IRC knows of the people on the server.
    pub fn people(&self) -> MutexGuard<'_, People> {
        // A panic elsewhere cannot leave the map half-changed: every
        // change is one insert or remove.
        self.people
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl crate::chat::IrcUsers for Settings {
    fn user_of(&self, id: ConnId) -> Option<String> {
        Some(self.people().get(id)?.user().to_string())
    }
}

/// Whether the first line a peer sent is IRC: `CAP`, `NICK`, `USER`,
/// `PASS`, `PING` or `QUIT` (any case, possibly after tags), followed by a
/// space or the end of the line. `NICK<SEP>hello` is a desk named `NICK`.
pub fn is_first_line(line: &[u8]) -> bool {
    let mut line = line;
    if line.first() == Some(&b'@') {
        match line.iter().position(|&b| b == b' ') {
            Some(space) => line = &line[space + 1..],
            None => return false,
        }
    }
    let end = line.iter().position(|&b| b == b' ').unwrap_or(line.len());
    let (word, rest) = line.split_at(end);
    let ends_well = rest.is_empty() || rest[0] == b' ';
    ends_well
        && ["CAP", "NICK", "USER", "PASS", "PING", "QUIT"]
            .iter()
            .any(|command| word.eq_ignore_ascii_case(command.as_bytes()))
}

/// One IRC client's side of the conversation. Kept small, since every IRC
/// connection has one boxed in its framing: 24 bytes, a 32-byte chunk of
/// malloc (it was 48 bytes, a 64-byte chunk). What only registration or a
/// `CHATHISTORY` needs is in [`Aside`], given back when done.
#[derive(Debug)]
pub struct Session {
    settings: Arc<Settings>,
    /// Until its name is taken, and while a `CHATHISTORY` is answered.
    aside: Option<Box<Aside>>,
    /// The connection (its slab key, far below 2^32), learnt from its first
    /// line; [`UNKNOWN`] until then.
    me: u32,
    /// The capabilities it turned on.
    caps: Caps,
    /// Whether it shows `#main` as a joined channel.
    shows_main: bool,
}

/// [`Session::me`] before the first line.
const UNKNOWN: u32 = u32::MAX;

/// What a session holds only for a while.
#[derive(Debug, Default)]
struct Aside {
    /// Until its name is taken.
    registering: Option<Registering>,
    /// A `CHATHISTORY` being answered: filled as its replayed lines are
    /// rendered (in order, for this client alone).
    history: std::cell::RefCell<Option<history::Pending>>,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.settings.people().forget(self.me());
    }
}

impl Session {
    /// A client that has just sent its first line.
    pub fn new(settings: Arc<Settings>) -> Session {
        Session {
            settings,
            aside: Some(Box::new(Aside {
                registering: Some(Registering::default()),
                ..Aside::default()
            })),
            me: UNKNOWN,
            caps: Caps::default(),
            shows_main: false,
        }
    }

    /// Its connection.
    fn me(&self) -> ConnId {
        self.me as ConnId
    }

    /// What it says while registering, until its name is taken.
    fn registering(&self) -> Option<&Registering> {
        self.aside.as_ref()?.registering.as_ref()
    }

    /// The same, to change.
    fn registering_mut(&mut self) -> Option<&mut Registering> {
        self.aside.as_mut()?.registering.as_mut()
    }

    /// Its name is taken: what registration needed goes.
    fn registered(&mut self) {
        if let Some(aside) = &mut self.aside {
            aside.registering = None;
        }
        self.tidy();
    }

    /// Gives [`Aside`] back once it holds nothing.
    fn tidy(&mut self) {
        if self
            .aside
            .as_ref()
            .is_some_and(|aside| aside.registering.is_none() && aside.history.borrow().is_none())
        {
            self.aside = None;
        }
    }

    /// Acts on one line the client sent.
    pub fn handle(&mut self, line: Line<'_>, cx: &mut Context<'_>) -> AfterLine {
        self.tidy();
        if self.me == UNKNOWN {
            self.me = u32::try_from(cx.from.conn).expect("a slab key is below 2^32");
            self.settings.people().arrive(self.me());
            // Out of `#main` until it registers, before its next lines (in
            // the same read) register it.
            cx.chat.step_out(self.me());
        }
        let bytes = match line {
            Line::Complete(bytes) => bytes,
            Line::TooLong => {
                self.reply(cx, "417", &["Input line was too long"]);
                return AfterLine::Continue;
            }
        };
        let text = String::from_utf8_lossy(bytes);
        let Some(message) = Message::parse(&text) else {
            return AfterLine::Continue;
        };
        let tag_bytes = message.tags.map_or(0, |tags| tags.len() + 2);
        if tag_bytes > line::MAX_CLIENT_TAG_BYTES
            || text.len() - tag_bytes + 2 > line::MAX_LINE_BYTES
        {
            self.reply(cx, "417", &["Input line was too long"]);
            return AfterLine::Continue;
        }
        match self.registering().is_some() {
            true => self.register(&message, cx),
            false => self.command(&message, cx),
        }
    }

    /// Whether it wants its own messages back (`echo-message`).
    pub fn takes_own_copy(&self) -> bool {
        self.caps.has(caps::ECHO_MESSAGE)
    }

    /// Whether it shows `#main` as a joined channel (and so hears its
    /// broadcasts).
    pub fn shows_main(&self) -> bool {
        self.shows_main
    }

    /// Shows `#main` as a joined channel, or stops.
    fn show_main(&mut self, shows: bool) {
        self.shows_main = shows;
        if let Some(person) = self.settings.people().get_mut(self.me()) {
            person.shows_main = shows;
        }
    }

    /// What the render key of its broadcasts is made of: the capabilities
    /// that change the bytes, and whether it shows `#main`.
    pub fn render_bits(&self) -> u32 {
        self.caps.render_bits() | (u32::from(self.shows_main) << 16)
    }

    /// Its name once it has one, `*` until then.
    fn nick<'a>(&self, chat: &'a Chat) -> &'a str {
        chat.name_of(self.me()).unwrap_or("*")
    }

    /// The nick it asked for last while registering.
    fn asked_nick(&self) -> Option<&str> {
        self.registering()?.nick.as_deref()
    }

    /// Sends `out` as it is.
    fn send(&self, cx: &mut Context<'_>, out: Out) {
        if !out.is_empty() {
            cx.effects
                .push(Effect::SendRaw(self.me(), Frame::new(out.into_bytes())));
        }
    }

    /// Writes the numeric `code` for this client into `out`: its nick, then
    /// `params`.
    fn numeric(&self, out: &mut Out, chat: &Chat, code: &str, params: &[&str]) {
        let mut all = Vec::with_capacity(params.len() + 1);
        all.push(self.nick(chat));
        all.extend_from_slice(params);
        out.text_line("", &self.settings.server_name, code, &all);
    }

    /// Sends the numeric `code` at once.
    fn reply(&self, cx: &mut Context<'_>, code: &str, params: &[&str]) {
        let mut out = Out::new();
        self.numeric(&mut out, cx.chat, code, params);
        self.send(cx, out);
    }

    /// Hands one of our lines to the rules, and turns the refusals they
    /// answer at once into the numerics `refusal` chooses (`None`: left as
    /// our line, rendered later as a notice). A line that went to the store
    /// holds the client's next lines until the store answers.
    fn ask<'t>(
        &self,
        cx: &mut Context<'_>,
        line: ClientLine<'_>,
        refusal: impl Fn(chat_shared::ErrorCode) -> Option<Refusal<'t>>,
    ) -> AfterLine {
        let start = cx.effects.len();
        let after = cx.handle(Input::Line(Ok(line)));
        let mut requests = 0;
        let answers: Vec<Effect> = cx.effects.drain(start..).collect();
        for effect in answers {
            match effect {
                Effect::Publish(_) | Effect::Ask(_) => requests += 1,
                Effect::Send(id, ref frame) if id == self.me() => {
                    if let Some(out) = self.refused(frame, cx.chat, &refusal) {
                        // A silent refusal (to a NOTICE) sends nothing.
                        if !out.is_empty() {
                            let frame = Frame::new(out.into_bytes());
                            cx.effects.push(Effect::SendRaw(self.me(), frame));
                        }
                        continue;
                    }
                }
                _ => {}
            }
            cx.effects.push(effect);
        }
        cx.chat.hold_until_answered(self.me(), requests);
        match after {
            AfterLine::Continue if cx.chat.holds_lines(self.me()) => AfterLine::Hold,
            after => after,
        }
    }

    /// The numeric for our `ERR` line `frame`, if `refusal` names one.
    fn refused<'t>(
        &self,
        frame: &Frame,
        chat: &Chat,
        refusal: &impl Fn(chat_shared::ErrorCode) -> Option<Refusal<'t>>,
    ) -> Option<Out> {
        let line = std::str::from_utf8(frame).ok()?.trim_end();
        let chat_shared::ServerLine::Error { code, detail } =
            chat_shared::ServerLine::parse(line).ok()?
        else {
            return None;
        };
        let mut out = Out::new();
        match refusal(code)? {
            Refusal::Silent => {}
            Refusal::Numeric(numeric, target) => {
                self.numeric(&mut out, chat, numeric, &[target, detail])
            }
            Refusal::Numeric2(numeric, first, second) => {
                self.numeric(&mut out, chat, numeric, &[first, second, detail])
            }
        }
        Some(out)
    }
}

/// What a refusal of the rules becomes for an IRC client.
#[derive(Debug, Clone, Copy)]
enum Refusal<'a> {
    /// Nothing (a refused `NOTICE` is never answered).
    Silent,
    /// A numeric about a target (a nick, a channel), with the rules' words.
    Numeric(&'static str, &'a str),
    /// A numeric about two targets (a nick and a channel).
    Numeric2(&'static str, &'a str, &'a str),
}

/// The user and host of an IRC prefix for a person our rules know by
/// `name`: the user name an IRC client gave (host `irc`), or the name (host
/// `desk`).
fn host_of(people: &People, chat: &Chat, name: &str) -> (String, &'static str) {
    // An IRC client whose QUIT is being told is gone from the rules, not
    // yet from `people`.
    let id = people.conn_named(chat, name);
    host_of_conn(people, id, name)
}

/// The same for connection `id` (if it is here), without looking the name
/// up (which folds lookalikes, so it is not free).
fn host_of_conn(people: &People, id: Option<ConnId>, name: &str) -> (String, &'static str) {
    match id.and_then(|id| people.get(id)) {
        Some(person) if !person.user().is_empty() => (person.user().to_string(), "irc"),
        _ => (name.to_string(), "desk"),
    }
}

/// `name!user@host` for a person our rules know by `name`.
fn prefix_of(people: &People, chat: &Chat, name: &str) -> String {
    let (user, host) = host_of(people, chat, name);
    format!("{name}!{user}@{host}")
}

/// `name!user@host` for connection `id`, called `name`.
fn prefix_of_conn(people: &People, id: ConnId, name: &str) -> String {
    let (user, host) = host_of_conn(people, Some(id), name);
    format!("{name}!{user}@{host}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_session_is_24_bytes() {
        // Every IRC connection has one boxed: 24 bytes and malloc's 8 of
        // its own make a 32-byte chunk.
        assert_eq!(std::mem::size_of::<super::Session>(), 24);
    }
}
