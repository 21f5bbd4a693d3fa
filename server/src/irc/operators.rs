//! IRC operators: `OPER` (with a name and password given to the server,
//! `--irc-oper NAME:PASSWORD`), `KILL` (ends anyone's connection, a desk's
//! too, with a reason) and `WALLOPS` (to every IRC client with user mode
//! `+w`), and the user modes a client sets on itself (`+i`, `+w`; `+o` comes
//! only from `OPER`, and may be dropped with `-o`).
//!
//! Operators are IRC's alone: our desks have no operators, and an operator
//! is one only on the connection that sent `OPER`.

use super::line::{Message, Out};
use super::people::Person;
use super::Session;
use crate::chat::Context;
use crate::close::CloseReason;
use crate::effect::Effect;
use crate::frames::{self, Frame};

/// Most characters of a `WALLOPS` or `KILL` text passed on.
const MAX_TEXT_CHARS: usize = 400;

impl Session {
    /// `OPER name password`: `381` and `MODE +o`, or `464`.
    pub(super) fn oper(&self, message: &Message<'_>, cx: &mut Context<'_>) {
        let (Some(name), Some(password)) = (message.param(0), message.param(1)) else {
            self.reply(cx, "461", &["OPER", "Not enough parameters"]);
            return;
        };
        let admitted = self
            .settings
            .opers
            .iter()
            .fold(false, |found, oper| oper.admits(name, password) | found);
        if !admitted {
            tracing::info!(conn = self.me(), oper = name, "[!] IRC OPER refused");
            self.reply(cx, "464", &["Password incorrect"]);
            return;
        }
        tracing::info!(conn = self.me(), oper = name, "[*] IRC operator");
        if let Some(person) = self.settings.people().get_mut(self.me()) {
            person.set_oper(name);
        }
        let own = self.nick(cx.chat).to_string();
        let mut out = Out::new();
        self.numeric(&mut out, cx.chat, "381", &["You are now an IRC operator"]);
        out.line("", &own, "MODE", &[&own, "+o"]);
        self.send(cx, out);
    }

    /// Whether this client is an operator.
    pub(super) fn is_oper(&self) -> bool {
        self.settings
            .people()
            .get(self.me())
            .is_some_and(Person::is_oper)
    }

    /// The first argument of an operator's `command`, if it has one and
    /// this client is an operator; otherwise `461` or `481` is answered.
    fn operators_argument<'m>(
        &self,
        message: &Message<'m>,
        cx: &mut Context<'_>,
        command: &str,
    ) -> Option<&'m str> {
        let Some(argument) = message.param(0).filter(|argument| !argument.is_empty()) else {
            self.reply(cx, "461", &[command, "Not enough parameters"]);
            return None;
        };
        if !self.is_oper() {
            let why = "Permission Denied- You're not an IRC operator";
            self.reply(cx, "481", &[why]);
            return None;
        }
        Some(argument)
    }

    /// `KILL nick [reason]`: an operator ends `nick`'s connection (a desk's
    /// or an IRC client's), telling it why.
    pub(super) fn kill(&self, message: &Message<'_>, cx: &mut Context<'_>) {
        let Some(target) = self.operators_argument(message, cx, "KILL") else {
            return;
        };
        let Some(victim) = cx.chat.conn_named(target) else {
            self.reply(cx, "401", &[target, "No such nick/channel"]);
            return;
        };
        let killer = self.nick(cx.chat).to_string();
        let said: String = message
            .param(1)
            .unwrap_or("no reason")
            .chars()
            .take(MAX_TEXT_CHARS)
            .collect();
        let reason = format!("Killed ({killer} ({said}))");
        tracing::info!(conn = victim, by = %killer, reason = %said, "[!] IRC KILL");
        cx.chat.leaving_because(victim, &reason);
        cx.effects.push(Effect::Send(victim, frames::bye(&reason)));
        cx.effects
            .push(Effect::Close(victim, CloseReason::Killed(killer)));
    }

    /// `WALLOPS text`: an operator's text to every IRC client with `+w`
    /// (and back to itself).
    pub(super) fn wallops(&self, message: &Message<'_>, cx: &mut Context<'_>) {
        let Some(text) = self.operators_argument(message, cx, "WALLOPS") else {
            return;
        };
        let text: String = text.chars().take(MAX_TEXT_CHARS).collect();
        let mut out = Out::new();
        out.text_line("", &self.own_prefix(cx.chat), "WALLOPS", &[&text]);
        let frame = Frame::new(out.into_bytes());
        let people = self.settings.people();
        let hearing = people
            .iter()
            .filter(|(id, person)| *id == self.me() || person.wallops)
            .filter(|(id, _)| cx.chat.name_of(*id).is_some())
            .map(|(id, _)| Effect::SendRaw(id, frame.clone()));
        cx.effects.extend(hearing);
    }

    /// `MODE own-nick [changes]`: its modes (`221`), or `+i`/`-i`,
    /// `+w`/`-w` and `-o` changed, and the change told back.
    pub(super) fn user_mode(&self, changes: Option<&str>, cx: &mut Context<'_>) {
        let own = self.nick(cx.chat).to_string();
        let Some(changes) = changes else {
            let modes = self
                .settings
                .people()
                .get(self.me())
                .map_or_else(|| "+".to_string(), |person| person.modes());
            self.reply(cx, "221", &[&modes]);
            return;
        };
        let mut people = self.settings.people();
        let Some(person) = people.get_mut(self.me()) else {
            return;
        };
        let mut adding = true;
        let mut unknown = false;
        let mut applied = String::new();
        let mut applied_sign = None;
        for letter in changes.chars() {
            let changed = match letter {
                '+' | '-' => {
                    adding = letter == '+';
                    continue;
                }
                'i' => std::mem::replace(&mut person.invisible, adding) != adding,
                'w' => std::mem::replace(&mut person.wallops, adding) != adding,
                // `+o` comes from `OPER` alone.
                'o' if !adding => person.drop_oper(),
                'o' => false,
                _ => {
                    unknown = true;
                    false
                }
            };
            if changed {
                if applied_sign != Some(adding) {
                    applied.push(if adding { '+' } else { '-' });
                    applied_sign = Some(adding);
                }
                applied.push(letter);
            }
        }
        drop(people);
        let mut out = Out::new();
        if unknown {
            self.numeric(&mut out, cx.chat, "501", &["Unknown MODE flag"]);
        }
        if !applied.is_empty() {
            out.line("", &own, "MODE", &[&own, &applied]);
        }
        self.send(cx, out);
    }

    /// Whether connection `id` is hidden from a `WHO` mask asked by this
    /// client: it is `+i` and shares no channel with it.
    pub(super) fn hidden_from_masks(&self, cx: &Context<'_>, id: crate::ids::ConnId) -> bool {
        if id == self.me() {
            return false;
        }
        let invisible = self
            .settings
            .people()
            .get(id)
            .is_some_and(|person| person.invisible);
        invisible && !cx.chat.rooms_of(id).any(|room| room.contains(self.me()))
    }
}
