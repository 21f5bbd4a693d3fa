//! An IRC client until it has its name: capability negotiation (`CAP LS`,
//! `REQ`, `LIST`, `END`; negotiation holds registration until `CAP END`),
//! `NICK` and `USER`, and, on a server whose desks log in, `AUTHENTICATE
//! PLAIN` or `PASS` with an account's name and token. Then the name is taken
//! with our `/join` (a logged-in client takes its account's name, whatever
//! `NICK` said), and the welcome burst is rendered from our `WELCOME`.
//!
//! On a server without accounts `PASS` is accepted and ignored: there is no
//! server password.

use base64::Engine;
use chat_shared::{ClientLine, ErrorCode};

use super::line::{Message, Out};
use super::{caps, Refusal, Session};
use crate::chat::Context;
use crate::chat::Input;
use crate::close::{AfterLine, CloseReason};
use crate::effect::Effect;
use crate::frames::Frame;
use crate::room::MAIN;

/// What a client says while it registers.
#[derive(Debug, Default)]
pub struct Registering {
    /// The nick it asked for last.
    pub nick: Option<String>,
    /// Whether `USER` was sent.
    user: bool,
    /// True between `CAP LS`/`REQ` and `CAP END`: registration waits.
    negotiating: bool,
    /// `PASS`'s argument, for a login when registration completes.
    pass: Option<String>,
}

impl Session {
    /// One line of a client that is not registered yet.
    pub(super) fn register(&mut self, message: &Message<'_>, cx: &mut Context<'_>) -> AfterLine {
        if let Some(name) = cx.chat.name_of(self.me()) {
            // Its name was granted by the servers sharing the store.
            self.settings.people().registered(self.me(), name);
            self.registered();
            return self.command(message, cx);
        }
        let command = message.command.to_ascii_uppercase();
        match command.as_str() {
            "CAP" => return self.cap(message, cx),
            "NICK" => match message.param(0).filter(|nick| !nick.is_empty()) {
                None => self.reply(cx, "431", &["No nickname given"]),
                Some(nick) if !valid_nick(nick) => {
                    self.reply(cx, "432", &[nick, "Erroneous nickname"])
                }
                Some(nick) => {
                    self.registration().nick = Some(nick.to_string());
                    return self.try_register(cx);
                }
            },
            "USER" => {
                let (Some(user), Some(real)) = (message.param(0), message.param(3)) else {
                    self.reply(cx, "461", &["USER", "Not enough parameters"]);
                    return AfterLine::Continue;
                };
                if user.is_empty() || real.is_empty() {
                    self.reply(cx, "461", &["USER", "Not enough parameters"]);
                    return AfterLine::Continue;
                }
                // The rules match ban masks against it (`nick!user@irc`),
                // reading it from `people` ([`crate::chat::IrcUsers`]).
                let user = super::people::user_of(user);
                if let Some(person) = self.settings.people().get_mut(self.me()) {
                    person.set_user(user, real);
                }
                self.registration().user = true;
                return self.try_register(cx);
            }
            "PASS" => match message.param(0) {
                Some(pass) => self.registration().pass = Some(pass.to_string()),
                None => self.reply(cx, "461", &["PASS", "Not enough parameters"]),
            },
            "AUTHENTICATE" => return self.authenticate(message, cx),
            "PING" => self.pong(message, cx),
            "PONG" => {}
            "QUIT" => {
                let mut out = Out::new();
                out.text_line("", "", "ERROR", &["Closing link: quit"]);
                self.send(cx, out);
                return AfterLine::Stop(CloseReason::Quit);
            }
            _ => self.reply(cx, "451", &["You have not registered"]),
        }
        AfterLine::Continue
    }

    fn registration(&mut self) -> &mut Registering {
        self.aside
            .get_or_insert_with(Box::default)
            .registering
            .get_or_insert_with(Registering::default)
    }

    /// `CAP`, before or after registration.
    pub(super) fn cap(&mut self, message: &Message<'_>, cx: &mut Context<'_>) -> AfterLine {
        let logins = cx.chat.takes_logins();
        let sub = message.param(0).unwrap_or("").to_ascii_uppercase();
        let mut out = Out::new();
        let server = self.settings.server_name.clone();
        let nick = self.nick(cx.chat).to_string();
        match sub.as_str() {
            "LS" => {
                let v302 = message
                    .param(1)
                    .and_then(|version| version.parse::<u32>().ok())
                    .is_some_and(|version| version >= 302);
                if v302 {
                    self.caps.set(caps::CAP_NOTIFY, true);
                }
                if let Some(registering) = self.registering_mut() {
                    registering.negotiating = true;
                }
                out.line(
                    "",
                    &server,
                    "CAP",
                    &[&nick, "LS", &caps::listing(logins, v302)],
                );
            }
            "LIST" => out.line("", &server, "CAP", &[&nick, "LIST", &self.caps.names()]),
            "REQ" => {
                let asked = message.param(1).unwrap_or("");
                let wanted: Option<Vec<(caps::Cap, bool)>> = asked
                    .split_whitespace()
                    .map(|word| {
                        let (name, on) = match word.strip_prefix('-') {
                            Some(name) => (name, false),
                            None => (word, true),
                        };
                        caps::named(name, logins).map(|cap| (cap, on))
                    })
                    .collect();
                match wanted {
                    Some(wanted) if !asked.trim().is_empty() => {
                        for (cap, on) in wanted {
                            self.caps.set(cap, on);
                            if cap == caps::AWAY_NOTIFY {
                                if let Some(person) = self.settings.people().get_mut(self.me()) {
                                    person.away_notify = on;
                                }
                            }
                        }
                        out.line("", &server, "CAP", &[&nick, "ACK", asked]);
                    }
                    _ => out.line("", &server, "CAP", &[&nick, "NAK", asked]),
                }
                if let Some(registering) = self.registering_mut() {
                    registering.negotiating = true;
                }
            }
            "END" => {
                if let Some(registering) = self.registering_mut() {
                    registering.negotiating = false;
                    return self.try_register(cx);
                }
            }
            _ => self.numeric(&mut out, cx.chat, "410", &[&sub, "Invalid CAP command"]),
        }
        self.send(cx, out);
        AfterLine::Continue
    }

    /// `AUTHENTICATE`: SASL PLAIN, on a server whose desks log in.
    fn authenticate(&mut self, message: &Message<'_>, cx: &mut Context<'_>) -> AfterLine {
        if !cx.chat.takes_logins() || !self.caps.has(caps::SASL) {
            self.reply(cx, "904", &["SASL authentication failed"]);
            return AfterLine::Continue;
        }
        match message.param(0).unwrap_or("") {
            "PLAIN" => {
                let mut out = Out::new();
                out.line("", "", "AUTHENTICATE", &["+"]);
                self.send(cx, out);
                AfterLine::Continue
            }
            "*" => {
                self.reply(cx, "906", &["SASL authentication aborted"]);
                AfterLine::Continue
            }
            blob => {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(blob)
                    .ok()
                    .and_then(|bytes| String::from_utf8(bytes).ok());
                let Some(decoded) = decoded else {
                    self.reply(cx, "904", &["SASL authentication failed"]);
                    return AfterLine::Continue;
                };
                // authzid \0 authcid \0 password
                let mut parts = decoded.split('\0');
                let (_, Some(account), Some(token)) = (parts.next(), parts.next(), parts.next())
                else {
                    self.reply(cx, "904", &["SASL authentication failed"]);
                    return AfterLine::Continue;
                };
                if !self.log_in(cx, account, token, true) {
                    return AfterLine::Stop(CloseReason::LoginRefused);
                }
                let account = cx.chat.account_of(self.me()).unwrap_or(account).to_string();
                let mask = format!("{account}!{account}@irc");
                let mut out = Out::new();
                self.numeric(
                    &mut out,
                    cx.chat,
                    "900",
                    &[
                        &mask,
                        &account,
                        &format!("You are now logged in as {account}"),
                    ],
                );
                self.numeric(
                    &mut out,
                    cx.chat,
                    "903",
                    &["SASL authentication successful"],
                );
                self.send(cx, out);
                AfterLine::Continue
            }
        }
    }

    /// Logs in to `account` with `token` through the rules (`/auth`); on
    /// refusal, the client is told (`904` for SASL, `464` for `PASS`) and
    /// the connection ends.
    fn log_in(&mut self, cx: &mut Context<'_>, account: &str, token: &str, sasl: bool) -> bool {
        let start = cx.effects.len();
        let line = ClientLine::Auth {
            name: account,
            token,
        };
        cx.handle(Input::Line(Ok(line)));
        // What the rules queued (the refusal, or `#main`'s history for a
        // desk let in) is not for a client that has not registered.
        cx.effects.truncate(start);
        if cx.chat.account_of(self.me()).is_some() {
            // It enters `#main` once it has its name, like every IRC client.
            cx.chat.step_out(self.me());
            return true;
        }
        let mut out = Out::new();
        match sasl {
            true => self.numeric(&mut out, cx.chat, "904", &["SASL authentication failed"]),
            false => self.numeric(&mut out, cx.chat, "464", &["Password incorrect"]),
        }
        out.text_line("", "", "ERROR", &["Closing link: login refused"]);
        self.send(cx, out);
        false
    }

    /// Takes the name once `NICK` and `USER` are in and negotiation is
    /// over: with `/join`, as a desk does.
    fn try_register(&mut self, cx: &mut Context<'_>) -> AfterLine {
        let Some(registering) = self.registering_mut() else {
            return AfterLine::Continue;
        };
        let Some(nick) = registering.nick.clone() else {
            return AfterLine::Continue;
        };
        if registering.negotiating || !registering.user {
            return AfterLine::Continue;
        }
        let pass = registering.pass.take();
        if cx.chat.takes_logins() && cx.chat.account_of(self.me()).is_none() {
            let logged_in = match pass.as_deref() {
                // `PASS account:token`, or `PASS token` with the nick.
                Some(pass) => {
                    let (account, token) = pass.split_once(':').unwrap_or((&nick, pass));
                    self.log_in(cx, account, token, false)
                }
                None => {
                    let mut out = Out::new();
                    let why = "This server takes its accounts only: log in with SASL PLAIN \
                               or PASS account:token";
                    self.numeric(&mut out, cx.chat, "464", &[why]);
                    out.text_line("", "", "ERROR", &["Closing link: not logged in"]);
                    self.send(cx, out);
                    false
                }
            };
            if !logged_in {
                return AfterLine::Stop(CloseReason::LoginRefused);
            }
        }
        let name = cx
            .chat
            .account_of(self.me())
            .map_or(nick.clone(), str::to_string);
        self.show_main(self.settings.join_main);
        let start = cx.effects.len();
        let after = self.ask(
            cx,
            ClientLine::Join {
                name: &name,
                color: None,
                desk: None,
            },
            |code| match code {
                ErrorCode::NameTaken => Some(Refusal::Numeric("433", &nick)),
                ErrorCode::BadName => Some(Refusal::Numeric("432", &nick)),
                _ => None,
            },
        );
        if let Some(name) = cx.chat.name_of(self.me()) {
            self.settings.people().registered(self.me(), name);
            self.registered();
            self.own_join(cx, start);
        }
        after
    }

    /// The client just took its name: everyone else hears it join `#main`,
    /// and it gets its own `JOIN` with the channel's names, in place of our
    /// `JOIN` line (a broadcast cannot carry names meant for one client).
    fn own_join(&self, cx: &mut Context<'_>, start: usize) {
        let Some(at) = cx.effects[start..].iter().position(|effect| {
            matches!(effect, Effect::Broadcast(room, frame)
                if *room == MAIN && frame.starts_with(b"JOIN<SEP>"))
        }) else {
            return;
        };
        let at = start + at;
        let Effect::Broadcast(_, frame) = &cx.effects[at] else {
            return;
        };
        cx.effects[at] = Effect::BroadcastOthers(MAIN, self.me(), frame.clone());
        if self.shows_main {
            let out = self.joined(cx.chat, MAIN);
            cx.effects.insert(
                at + 1,
                Effect::SendRaw(self.me(), Frame::new(out.into_bytes())),
            );
        }
    }

    /// `PONG` for a `PING`.
    pub(super) fn pong(&self, message: &Message<'_>, cx: &mut Context<'_>) {
        match message.param(0) {
            None => self.reply(cx, "409", &["No origin specified"]),
            Some(token) => {
                let mut out = Out::new();
                let server = &self.settings.server_name;
                out.line("", server, "PONG", &[server, token]);
                self.send(cx, out);
            }
        }
    }
}

/// Whether `nick` may be taken: our name rules ([`chat_shared::name`]),
/// and nothing an IRC line or prefix cannot carry.
pub fn valid_nick(nick: &str) -> bool {
    chat_shared::name::check_name(nick).is_ok()
        && !nick.contains([',', '*', '?', '!', '@', ':'])
        && !nick.starts_with(['#', '&', '$', '+', '%', '~', '-'])
        && !nick.starts_with(|c: char| c.is_ascii_digit())
}
