//! Channel `MODE` and `KICK`: our `/room mode` and `/room kick`, whose
//! rules are the room's ([`crate::room::modes`], `crate::chat::modes`).
//! What IRC asks that our lines do not carry is answered here from the
//! rules' state: the modes (`324`, `329`), the ban list (`367`, `368`),
//! and the numerics that name a mode letter or a nick (`472`, `696`,
//! `401`, `441`), read with the same parser and checks the rules use.

use chat_shared::{ClientLine, ErrorCode, RoomCommand};

use super::line::Out;
use super::{Refusal, Session};
use crate::chat::Context;
use crate::close::AfterLine;
use crate::room::modes::{self, Change, Problem};
use crate::room::MAIN;

impl Session {
    /// `MODE #channel [CHANGES [ARGUMENTS...]]`.
    pub(super) fn channel_mode(
        &mut self,
        message: &super::line::Message<'_>,
        cx: &mut Context<'_>,
    ) -> AfterLine {
        let target = message.param(0).unwrap_or("*");
        let Some(room) = self.visible_room(cx.chat, target) else {
            self.reply(cx, "403", &[target, "No such channel"]);
            return AfterLine::Continue;
        };
        let name = cx.chat.room(room).name().to_string();
        let line = message.params.get(1..).unwrap_or_default().join(" ");
        let (changes, problems) = modes::parse(&line);
        let mut out = Out::new();
        for problem in &problems {
            match problem {
                Problem::Unknown(letter) => {
                    let letter = letter.to_string();
                    let why = "is an unknown mode char to me";
                    self.numeric(&mut out, cx.chat, "472", &[&letter, why]);
                }
                Problem::BadArgument(letter, _) => {
                    let letter = letter.to_string();
                    let why = match letter.as_str() {
                        "k" => "A key is 1 to 23 characters, without spaces or commas",
                        _ => "Invalid mask",
                    };
                    self.numeric(&mut out, cx.chat, "696", &[&name, &letter, "*", why]);
                }
                // Dropped silently, as MODES allows.
                Problem::TooMany => {}
            }
        }
        if changes.is_empty() {
            // No letters at all asks; letters that changed nothing (an
            // ignored limit) are not answered.
            if line.trim().is_empty() {
                self.modes_numerics(&mut out, cx, room, &name);
            }
            self.send(cx, out);
            return AfterLine::Continue;
        }
        if changes.contains(&Change::ListBans) {
            self.ban_list(&mut out, cx, room, &name);
        }
        // Numerics that name the nick: the rules' own check, asked before
        // the change (an operator's change only, so that anyone else hears
        // `482` alone).
        if room != MAIN && cx.chat.is_operator(room, self.me()) {
            for change in &changes {
                if let Change::Rank(_, _, nick) = change {
                    match cx.chat.rank_target(room, nick) {
                        Err(ErrorCode::NoSuchName) => {
                            self.numeric(&mut out, cx.chat, "401", &[nick, "No such nick"]);
                        }
                        Err(_) => {
                            let why = "They aren't on that channel";
                            self.numeric(&mut out, cx.chat, "441", &[nick, &name, why]);
                        }
                        Ok(_) => {}
                    }
                }
            }
        }
        self.send(cx, out);
        if changes.iter().all(|change| *change == Change::ListBans) {
            return AfterLine::Continue;
        }
        let command = ClientLine::Room(RoomCommand::Mode {
            room: &name,
            changes: &line,
        });
        let name = name.as_str();
        self.ask(cx, command, |code| match code {
            ErrorCode::NotOperator => Some(Refusal::Numeric("482", name)),
            ErrorCode::NotInRoom => Some(Refusal::Numeric("442", name)),
            ErrorCode::NoSuchRoom | ErrorCode::BadRoom => Some(Refusal::Numeric("403", name)),
            // Told above, with the letter or the nick they are about; a
            // full ban list is not echoed.
            _ => Some(Refusal::Silent),
        })
    }

    /// `324` and `329`: the channel's modes and when it was made.
    fn modes_numerics(
        &self,
        out: &mut Out,
        cx: &Context<'_>,
        room: crate::room::RoomId,
        name: &str,
    ) {
        let chat = &*cx.chat;
        let the_room = chat.room(room);
        let described = match room {
            MAIN => "+n".to_string(),
            _ => the_room.modes.describe(the_room.contains(self.me())),
        };
        let mut params: Vec<&str> = vec![name];
        params.extend(described.split(' '));
        self.numeric(out, chat, "324", &params);
        let created = the_room.created().to_string();
        self.numeric(out, chat, "329", &[name, &created]);
    }

    /// `367` for each ban, then `368`.
    fn ban_list(&self, out: &mut Out, cx: &Context<'_>, room: crate::room::RoomId, name: &str) {
        let chat = &*cx.chat;
        for ban in &chat.room(room).modes.bans {
            let time = ban.time.to_string();
            self.numeric(out, chat, "367", &[name, &ban.mask, &ban.by, &time]);
        }
        self.numeric(out, chat, "368", &[name, "End of channel ban list"]);
    }

    /// `KICK #channel nick [:reason]` (one channel and one nick: `TARGMAX`
    /// says `KICK:1`).
    pub(super) fn kick(
        &mut self,
        message: &super::line::Message<'_>,
        cx: &mut Context<'_>,
    ) -> AfterLine {
        let (Some(channel), Some(nicks)) = (message.param(0), message.param(1)) else {
            self.reply(cx, "461", &["KICK", "Not enough parameters"]);
            return AfterLine::Continue;
        };
        let channel = channel.split(',').next().unwrap_or(channel);
        let nick = nicks.split(',').next().unwrap_or(nicks);
        if cx.chat.room_named(channel).is_none() || !channel.starts_with('#') {
            self.reply(cx, "403", &[channel, "No such channel"]);
            return AfterLine::Continue;
        }
        let reason = super::line::strip_formatting(message.param(2).unwrap_or(""));
        let command = ClientLine::Room(RoomCommand::Kick {
            room: channel,
            name: nick,
            reason: &reason,
        });
        self.ask(cx, command, |code| match code {
            ErrorCode::NotOperator => Some(Refusal::Numeric("482", channel)),
            ErrorCode::NotInRoom => Some(Refusal::Numeric("442", channel)),
            ErrorCode::NoSuchRoom | ErrorCode::BadRoom => Some(Refusal::Numeric("403", channel)),
            ErrorCode::NoSuchName => Some(Refusal::Numeric("401", nick)),
            ErrorCode::NotThere => Some(Refusal::Numeric2("441", nick, channel)),
            _ => None,
        })
    }
}
