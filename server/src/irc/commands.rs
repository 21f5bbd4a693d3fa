//! What a registered IRC client sends. Messages and room changes are our
//! commands, handed to the rules ([`Session::ask`]); what our protocol has
//! no line for (`NAMES`, `WHO`, `WHOIS`, `MODE`, `AWAY`, `LUSERS`...) is
//! answered here from the rules' state.
//!
//! Nick changes are in [`super::nick`].

use chat_shared::name::name_key;
use chat_shared::room::{check_room, room_key, MAIN_ROOM};
use chat_shared::{ClientLine, ErrorCode, RoomCommand, ServerLine};

use super::line::{self, Message, Out};
use super::people::Person;
use super::{caps, history, host_of_conn, prefix_of_conn, Refusal, Session};
use crate::chat::Context;
use crate::chat::{Chat, Input};
use crate::close::AfterLine;
use crate::effect::Effect;
use crate::frames::Frame;
use crate::ids::ConnId;
use crate::room::modes::glob;
use crate::room::{RoomId, MAIN};

/// Most targets of one `PRIVMSG` or `NOTICE` (`TARGMAX`).
const MAX_TARGETS: usize = 4;

impl Session {
    /// One line of a registered client.
    pub(super) fn command(&mut self, message: &Message<'_>, cx: &mut Context<'_>) -> AfterLine {
        let command = message.command.to_ascii_uppercase();
        match command.as_str() {
            "PING" => self.pong(message, cx),
            "PONG" => {}
            "CAP" => return self.cap(message, cx),
            "QUIT" => {
                let reason = match message.param(0).filter(|text| !text.is_empty()) {
                    Some(text) => format!("Quit: {text}"),
                    None => "Quit: left".to_string(),
                };
                cx.chat.leaving_because(self.me(), &reason);
                return self.ask(cx, ClientLine::Quit, |_| None);
            }
            "NICK" => self.nick_change(message, cx),
            "USER" | "PASS" | "AUTHENTICATE" => self.reply(cx, "462", &["You may not reregister"]),
            "JOIN" => return self.join(message, cx),
            "PART" => return self.part(message, cx),
            "PRIVMSG" | "NOTICE" => return self.say(message, cx, command == "NOTICE"),
            "TOPIC" => return self.topic(message, cx),
            "INVITE" => return self.invite(message, cx),
            "NAMES" => self.names_command(message, cx),
            "LIST" => self.list(message, cx),
            "WHO" => self.who(message, cx),
            "WHOIS" => self.whois(message, cx),
            "MODE" if message.param(0).is_some_and(|t| t.starts_with('#')) => {
                return self.channel_mode(message, cx)
            }
            "MODE" => self.mode(message, cx),
            "AWAY" => self.away(message, cx),
            "ISON" => self.ison(message, cx),
            "USERHOST" => self.userhost(message, cx),
            "LUSERS" => {
                let mut out = Out::new();
                self.lusers(&mut out, cx.chat);
                self.send(cx, out);
            }
            "MOTD" => self.reply(cx, "422", &["There is no message of the day"]),
            "VERSION" => {
                let server = self.settings.server_name.clone();
                self.reply(cx, "351", &[super::VERSION, &server, "office chat"]);
            }
            "TIME" => {
                let server = self.settings.server_name.clone();
                let now = chat_shared::message::timestamp_now();
                self.reply(cx, "391", &[&server, &now]);
            }
            "KICK" => return self.kick(message, cx),
            "CHATHISTORY" => return self.chathistory(message, cx),
            "OPER" => self.oper(message, cx),
            "KILL" => self.kill(message, cx),
            "WALLOPS" => self.wallops(message, cx),
            "INFO" => self.info(cx),
            "WHOWAS" => self.whowas(message, cx),
            _ => self.reply(cx, "421", &[message.command, "Unknown command"]),
        }
        AfterLine::Continue
    }

    /// `CHATHISTORY LATEST|BEFORE|AFTER|AROUND|BETWEEN target anchor...
    /// limit`: a replay of the room's log, answered as it comes back.
    fn chathistory(&mut self, message: &Message<'_>, cx: &mut Context<'_>) -> AfterLine {
        let fail = |cx: &mut Context<'_>, code: &str, why: &str| {
            let mut out = Out::new();
            let sub = message.param(0).unwrap_or("*");
            let server = self.settings.server_name.clone();
            out.text_line("", &server, "FAIL", &["CHATHISTORY", code, sub, why]);
            self.send(cx, out);
            AfterLine::Continue
        };
        if !self.caps.has(caps::CHATHISTORY) {
            return fail(cx, "NEED_MORE_PARAMS", "Ask for draft/chathistory first");
        }
        let epoch = cx.chat.epoch().to_string();
        let sub = message.param(0).unwrap_or("").to_ascii_uppercase();
        let (Some(target), Some(first)) = (message.param(1), message.param(2)) else {
            return fail(cx, "NEED_MORE_PARAMS", "Missing parameters");
        };
        let anchor = |text: &str| history::Anchor::parse(text, &epoch);
        let (kind, limit) = match (sub.as_str(), message.param(3), message.param(4)) {
            ("LATEST", Some(limit), _) if first == "*" => (history::Kind::Latest(None), limit),
            ("LATEST", Some(limit), _) => match anchor(first) {
                Some(a) => (history::Kind::Latest(Some(a)), limit),
                None => return fail(cx, "INVALID_PARAMS", "Bad anchor"),
            },
            ("BEFORE" | "AFTER" | "AROUND", Some(limit), _) => {
                let Some(a) = anchor(first) else {
                    return fail(cx, "INVALID_PARAMS", "Bad anchor");
                };
                let kind = match sub.as_str() {
                    "BEFORE" => history::Kind::Before(a),
                    "AFTER" => history::Kind::After(a),
                    _ => history::Kind::Around(a),
                };
                (kind, limit)
            }
            ("BETWEEN", Some(second), Some(limit)) => match (anchor(first), anchor(second)) {
                (Some(a), Some(b)) => (history::Kind::Between(a, b), limit),
                _ => return fail(cx, "INVALID_PARAMS", "Bad anchor"),
            },
            ("TARGETS", ..) => return fail(cx, "INVALID_PARAMS", "TARGETS is not kept"),
            _ => return fail(cx, "INVALID_PARAMS", "Unknown subcommand or missing limit"),
        };
        let Ok(limit) = limit.parse::<usize>() else {
            return fail(cx, "INVALID_PARAMS", "Bad limit");
        };
        let room = match self.visible_room(cx.chat, target) {
            Some(room) if room == MAIN || cx.chat.room(room).contains(self.me()) => room,
            _ if !target.starts_with('#') => {
                // Direct messages: nothing is served (see the module docs).
                let out = self.history_batch(cx.chat, target, &[]);
                self.send(cx, out);
                return AfterLine::Continue;
            }
            _ => return fail(cx, "INVALID_TARGET", "No such channel, or not in it"),
        };
        let after = match &kind {
            history::Kind::After(a) => a.replay_after(),
            _ => chat_shared::MessageId::from_sequence(0),
        };
        let scope = crate::store::Scope {
            main: room == MAIN,
            rooms: (room != MAIN)
                .then(|| cx.chat.room(room).name().to_string())
                .into_iter()
                .collect(),
        };
        *self
            .aside
            .get_or_insert_with(Box::default)
            .history
            .get_mut() = Some(history::Pending {
            target: target.to_string(),
            kind,
            limit: limit.clamp(1, history::MAX_LIMIT),
            expected: None,
            seen: 0,
            found: Vec::new(),
        });
        cx.effects.push(Effect::Ask(crate::store::Request::Replay {
            asker: cx.from,
            after,
            desk: None,
            scope,
            budget_bytes: cx.chat.replay_budget(),
        }));
        cx.chat.hold_until_answered(self.me(), 1);
        AfterLine::Hold
    }

    fn join(&mut self, message: &Message<'_>, cx: &mut Context<'_>) -> AfterLine {
        let Some(list) = message.param(0) else {
            self.reply(cx, "461", &["JOIN", "Not enough parameters"]);
            return AfterLine::Continue;
        };
        if list == "0" {
            let rooms: Vec<String> = cx
                .chat
                .rooms_of(self.me())
                .map(|r| r.name().to_string())
                .collect();
            if let Some(person) = self.settings.people().get_mut(self.me()) {
                person.parting(std::iter::empty(), "");
            }
            let mut after = AfterLine::Continue;
            for room in rooms {
                after = self.part_one(cx, &room, "", after);
            }
            if self.shows_main {
                after = self.part_one(cx, MAIN_ROOM, "", after);
            }
            return after;
        }
        let mut keys = message.param(1).unwrap_or("").split(',');
        let mut after = AfterLine::Continue;
        for name in list.split(',').filter(|name| !name.is_empty()) {
            let key = keys.next().filter(|key| !key.is_empty());
            if is_main(name) {
                if !self.shows_main {
                    self.show_main(true);
                    let out = self.joined(cx.chat, MAIN);
                    self.send(cx, out);
                    let history: Vec<Frame> = cx.chat.recent_history(MAIN).cloned().collect();
                    cx.effects.extend(
                        history
                            .into_iter()
                            .map(|frame| Effect::Send(self.me(), frame)),
                    );
                }
                continue;
            }
            if !name.starts_with('#') || check_room(name).is_err() {
                self.reply(cx, "403", &[name, "No such channel"]);
                continue;
            }
            if cx
                .chat
                .room_named(name)
                .is_some_and(|room| cx.chat.room(room).contains(self.me()))
            {
                continue;
            }
            let command = ClientLine::Room(RoomCommand::Join {
                room: name,
                private: false,
                key,
            });
            after = self.ask(cx, command, |code| match code {
                ErrorCode::NotInvited | ErrorCode::InviteOnly => {
                    Some(Refusal::Numeric("473", name))
                }
                ErrorCode::Banned => Some(Refusal::Numeric("474", name)),
                ErrorCode::BadKey => Some(Refusal::Numeric("475", name)),
                ErrorCode::RoomFull => Some(Refusal::Numeric("471", name)),
                ErrorCode::TooManyRooms | ErrorCode::RoomsTooFast => {
                    Some(Refusal::Numeric("405", name))
                }
                ErrorCode::NoSuchRoom | ErrorCode::BadRoom => Some(Refusal::Numeric("403", name)),
                _ => None,
            });
        }
        after
    }

    fn part(&mut self, message: &Message<'_>, cx: &mut Context<'_>) -> AfterLine {
        let Some(list) = message.param(0) else {
            self.reply(cx, "461", &["PART", "Not enough parameters"]);
            return AfterLine::Continue;
        };
        let reason = message.param(1).unwrap_or("");
        let names = || list.split(',').filter(|name| !name.is_empty());
        if let Some(person) = self.settings.people().get_mut(self.me()) {
            person.parting(names(), reason);
        }
        let mut after = AfterLine::Continue;
        for name in names() {
            after = self.part_one(cx, name, reason, after);
        }
        after
    }

    fn part_one(
        &mut self,
        cx: &mut Context<'_>,
        name: &str,
        reason: &str,
        after: AfterLine,
    ) -> AfterLine {
        if is_main(name) {
            if !self.shows_main {
                self.reply(cx, "442", &[name, "You're not on that channel"]);
                return after;
            }
            self.show_main(false);
            let mut out = Out::new();
            let me = self.own_prefix(cx.chat);
            out.line("", &me, "PART", &[MAIN_ROOM]);
            self.send(cx, out);
            return after;
        }
        let command = ClientLine::Room(RoomCommand::Part { room: name, reason });
        self.ask(cx, command, |code| match code {
            ErrorCode::NotInRoom => Some(Refusal::Numeric("442", name)),
            ErrorCode::NoSuchRoom | ErrorCode::BadRoom => Some(Refusal::Numeric("403", name)),
            _ => None,
        })
    }

    fn say(&mut self, message: &Message<'_>, cx: &mut Context<'_>, notice: bool) -> AfterLine {
        let Some(targets) = message.param(0).filter(|t| !t.is_empty()) else {
            if !notice {
                self.reply(cx, "411", &["No recipient given (PRIVMSG)"]);
            }
            return AfterLine::Continue;
        };
        let text = message.param(1).unwrap_or("");
        let Some(mut text) = our_text(text) else {
            // A CTCP request other than ACTION: our desks have nothing to
            // answer it with.
            return AfterLine::Continue;
        };
        if notice && !text.trim().is_empty() {
            text.insert_str(0, chat_shared::NOTICE_PREFIX);
        }
        if text.trim().is_empty() {
            if !notice {
                self.reply(cx, "412", &["No text to send"]);
            }
            return AfterLine::Continue;
        }
        let mut after = AfterLine::Continue;
        for target in targets
            .split(',')
            .filter(|t| !t.is_empty())
            .take(MAX_TARGETS)
        {
            if target.starts_with('#') {
                if is_main(target) && !self.shows_main {
                    if !notice {
                        self.reply(cx, "404", &[target, "Cannot send to channel"]);
                    }
                    continue;
                }
                let line = ClientLine::To {
                    room: target,
                    text: &text,
                };
                after = self.ask(cx, line, |code| match (notice, code) {
                    (true, _) => Some(Refusal::Silent),
                    (_, ErrorCode::NoSuchRoom | ErrorCode::BadRoom) => {
                        Some(Refusal::Numeric("403", target))
                    }
                    (_, ErrorCode::NotInRoom | ErrorCode::CannotSend) => {
                        Some(Refusal::Numeric("404", target))
                    }
                    _ => None,
                });
                continue;
            }
            let line = ClientLine::Direct {
                to: target,
                text: &text,
            };
            after = self.ask(cx, line, |code| match (notice, code) {
                (true, _) => Some(Refusal::Silent),
                (_, ErrorCode::NoSuchName) => Some(Refusal::Numeric("401", target)),
                _ => None,
            });
            if !notice {
                self.tell_away(cx, target);
            }
        }
        after
    }

    /// `301` when `target` is an IRC client that is away.
    fn tell_away(&self, cx: &mut Context<'_>, target: &str) {
        let away = cx
            .chat
            .conn_named(target)
            .and_then(|id| Some(self.settings.people().get(id)?.away()?.to_string()));
        if let Some(away) = away {
            let name = cx
                .chat
                .conn_named(target)
                .and_then(|id| cx.chat.name_of(id))
                .unwrap_or(target)
                .to_string();
            self.reply(cx, "301", &[&name, &away]);
        }
    }

    fn topic(&mut self, message: &Message<'_>, cx: &mut Context<'_>) -> AfterLine {
        let Some(name) = message.param(0) else {
            self.reply(cx, "461", &["TOPIC", "Not enough parameters"]);
            return AfterLine::Continue;
        };
        let Some(text) = message.param(1) else {
            let Some(room) = self.visible_room(cx.chat, name) else {
                self.reply(cx, "403", &[name, "No such channel"]);
                return AfterLine::Continue;
            };
            let mut out = Out::new();
            self.topic_numerics(&mut out, cx.chat, room, true);
            self.send(cx, out);
            return AfterLine::Continue;
        };
        if is_main(name) {
            let why = "#main has no topic; every other room may have one";
            self.reply(cx, "482", &[MAIN_ROOM, why]);
            return AfterLine::Continue;
        }
        let text = line::strip_formatting(text);
        let command = ClientLine::Room(RoomCommand::Topic {
            room: name,
            text: Some(&text),
        });
        self.ask(cx, command, |code| match code {
            ErrorCode::NotInRoom => Some(Refusal::Numeric("442", name)),
            ErrorCode::NotOperator => Some(Refusal::Numeric("482", name)),
            ErrorCode::NoSuchRoom | ErrorCode::BadRoom => Some(Refusal::Numeric("403", name)),
            _ => None,
        })
    }

    fn invite(&mut self, message: &Message<'_>, cx: &mut Context<'_>) -> AfterLine {
        let (Some(nick), Some(room)) = (message.param(0), message.param(1)) else {
            self.reply(cx, "461", &["INVITE", "Not enough parameters"]);
            return AfterLine::Continue;
        };
        let start = cx.effects.len();
        let command = ClientLine::Room(RoomCommand::Invite { room, name: nick });
        let after = self.ask(cx, command, |code| match code {
            ErrorCode::NoSuchName => Some(Refusal::Numeric("401", nick)),
            ErrorCode::NotInRoom => Some(Refusal::Numeric("442", room)),
            ErrorCode::NotOperator => Some(Refusal::Numeric("482", room)),
            ErrorCode::AlreadyThere => Some(Refusal::Numeric2("443", nick, room)),
            ErrorCode::NoSuchRoom | ErrorCode::BadRoom => Some(Refusal::Numeric("403", room)),
            _ => None,
        });
        let refused = cx.effects[start..]
            .iter()
            .any(|effect| matches!(effect, Effect::SendRaw(..) | Effect::Send(..)));
        if !refused {
            self.reply(cx, "341", &[nick, room]);
        }
        after
    }

    fn names_command(&self, message: &Message<'_>, cx: &mut Context<'_>) {
        let mut out = Out::new();
        match message.param(0) {
            None => self.numeric(&mut out, cx.chat, "366", &["*", "End of /NAMES list"]),
            Some(list) => {
                // One 366 for the whole list (modern.ircdocs.horse).
                for name in list.split(',').filter(|name| !name.is_empty()) {
                    if let Some(room) = self.visible_room(cx.chat, name) {
                        self.name_replies(&mut out, cx.chat, room);
                    }
                }
                self.numeric(&mut out, cx.chat, "366", &[list, "End of /NAMES list"]);
            }
        }
        self.send(cx, out);
    }

    /// `LIST`: our `/room list`, its `ROOMS` and `ROOM` lines written as
    /// `321`, `322`... and `323`.
    fn list(&self, message: &Message<'_>, cx: &mut Context<'_>) {
        let wanted: Option<Vec<String>> = message
            .param(0)
            .map(|list| list.split(',').map(room_key).collect());
        let start = cx.effects.len();
        let line = ClientLine::Room(RoomCommand::List);
        cx.handle(Input::Line(Ok(line)));
        let answers: Vec<Effect> = cx.effects.drain(start..).collect();
        let mut out = Out::new();
        self.numeric(&mut out, cx.chat, "321", &["Channel", "Users  Name"]);
        for effect in answers {
            let Effect::Send(_, frame) = effect else {
                continue;
            };
            let Some(Ok(ServerLine::RoomListed(info))) = std::str::from_utf8(&frame)
                .ok()
                .map(|line| ServerLine::parse(line.trim_end()))
            else {
                continue;
            };
            let unwanted = match &wanted {
                Some(wanted) => !wanted.contains(&room_key(info.room)),
                // `#main` is listed to those who show it (see --irc-no-main).
                None => is_main(info.room) && !self.shows_main,
            };
            if unwanted {
                continue;
            }
            let count = info.members.to_string();
            self.numeric(&mut out, cx.chat, "322", &[info.room, &count, info.topic]);
        }
        self.numeric(&mut out, cx.chat, "323", &["End of /LIST"]);
        self.send(cx, out);
    }

    fn who(&self, message: &Message<'_>, cx: &mut Context<'_>) {
        let mask = message.param(0).unwrap_or("*");
        let mut out = Out::new();
        if mask.starts_with('#') {
            if let Some(room) = self.visible_room(cx.chat, mask) {
                let name = cx.chat.room(room).name().to_string();
                let members: Vec<ConnId> = cx.chat.room(room).members().collect();
                for id in members {
                    let marks = self.marks(cx.chat.rank_marks(room, id));
                    self.who_reply(&mut out, cx.chat, id, &name, marks);
                }
            }
        } else {
            let pattern = mask.to_ascii_lowercase();
            let mut found: Vec<(String, ConnId)> = cx
                .chat
                .members_here()
                .filter(|(_, member)| glob(&pattern, &member.name.to_ascii_lowercase()))
                .map(|(id, member)| (member.name.clone(), id))
                .collect();
            // `+i` hides from masks, not from the whole nick.
            if mask.contains(['*', '?']) {
                found.retain(|(_, id)| !self.hidden_from_masks(cx, *id));
            }
            if found.is_empty() {
                if let Some(id) = cx.chat.conn_named(mask) {
                    found.push((String::new(), id));
                }
            }
            found.sort();
            for (_, id) in found {
                self.who_reply(&mut out, cx.chat, id, "*", "");
            }
        }
        self.numeric(&mut out, cx.chat, "315", &[mask, "End of WHO list"]);
        self.send(cx, out);
    }

    /// One `352` line: connection `id`, seen in `channel` (or `*`) with
    /// its rank `marks` there.
    fn who_reply(&self, out: &mut Out, chat: &Chat, id: ConnId, channel: &str, marks: &str) {
        let Some(member) = chat.member(id) else {
            return;
        };
        let people = self.settings.people();
        let (user, host) = host_of_conn(&people, Some(id), &member.name);
        let person = people.get(id);
        let mut flags = String::from(if person.is_some_and(|p| p.away().is_some()) {
            "G"
        } else {
            "H"
        });
        if person.is_some_and(Person::is_oper) {
            flags.push('*');
        }
        flags.push_str(marks);
        let real = person
            .map(|p| p.real_name().to_string())
            .filter(|real| !real.is_empty())
            .unwrap_or_else(|| member.name.clone());
        drop(people);
        let server = self.settings.server_name.clone();
        let real = format!("0 {real}");
        self.numeric(
            out,
            chat,
            "352",
            &[channel, &user, host, &server, &member.name, &flags, &real],
        );
    }

    fn whois(&self, message: &Message<'_>, cx: &mut Context<'_>) {
        let Some(target) = message.params.last().copied().filter(|t| !t.is_empty()) else {
            self.reply(cx, "431", &["No nickname given"]);
            return;
        };
        let mut out = Out::new();
        let chat = &*cx.chat;
        let Some((id, member)) = chat
            .conn_named(target)
            .and_then(|id| Some((id, chat.member(id)?)))
        else {
            self.numeric(&mut out, chat, "401", &[target, "No such nick/channel"]);
            self.numeric(&mut out, chat, "318", &[target, "End of /WHOIS list"]);
            self.send(cx, out);
            return;
        };
        let name = member.name.clone();
        let idle = member.last_said.elapsed().as_secs().to_string();
        let people = self.settings.people();
        let (user, host) = host_of_conn(&people, Some(id), &name);
        let person = people.get(id);
        let real = person
            .map(|p| p.real_name().to_string())
            .filter(|real| !real.is_empty())
            .unwrap_or_else(|| name.clone());
        let away = person.and_then(|p| p.away().map(str::to_string));
        let oper = person.is_some_and(Person::is_oper);
        // An IRC client shows `#main` only if it joined it.
        let in_main = person.is_none_or(|p| p.shows_main);
        let since = person.map_or(0, Person::since).to_string();
        drop(people);
        let server = self.settings.server_name.clone();
        self.numeric(&mut out, chat, "311", &[&name, &user, host, "*", &real]);
        let mut rooms: Vec<String> = in_main.then(|| MAIN_ROOM.to_string()).into_iter().collect();
        rooms.extend(
            chat.rooms_of(id)
                .filter(|room| !room.is_private() && !room.modes.secret)
                .filter_map(|room| {
                    let marks = self.marks(chat.rank_marks(chat.room_named(room.name())?, id));
                    Some(format!("{marks}{}", room.name()))
                }),
        );
        if !rooms.is_empty() {
            self.numeric(&mut out, chat, "319", &[&name, &rooms.join(" ")]);
        }
        self.numeric(&mut out, chat, "312", &[&name, &server, "office chat"]);
        if oper {
            self.numeric(&mut out, chat, "313", &[&name, "is an IRC operator"]);
        }
        if let Some(away) = away {
            self.numeric(&mut out, chat, "301", &[&name, &away]);
        }
        if let Some(account) = chat.account_of(id) {
            self.numeric(&mut out, chat, "330", &[&name, account, "is logged in as"]);
        }
        self.numeric(
            &mut out,
            chat,
            "317",
            &[&name, &idle, &since, "seconds idle, signon time"],
        );
        self.numeric(&mut out, chat, "318", &[&name, "End of /WHOIS list"]);
        self.send(cx, out);
    }

    fn mode(&self, message: &Message<'_>, cx: &mut Context<'_>) {
        let Some(target) = message.param(0) else {
            self.reply(cx, "461", &["MODE", "Not enough parameters"]);
            return;
        };
        let own = self.nick(cx.chat).to_string();
        if name_key(target) != name_key(&own) {
            let code = if cx.chat.conn_named(target).is_some() {
                "502"
            } else {
                "401"
            };
            let why = if code == "502" {
                "Can't change mode for other users"
            } else {
                "No such nick"
            };
            match code {
                "401" => self.reply(cx, code, &[target, why]),
                _ => self.reply(cx, code, &[why]),
            }
            return;
        }
        self.user_mode(message.param(1), cx);
    }

    fn away(&self, message: &Message<'_>, cx: &mut Context<'_>) {
        let away: Option<Box<str>> = message
            .param(0)
            .filter(|text| !text.is_empty())
            .map(|text| text.chars().take(200).collect::<String>().into());
        if let Some(person) = self.settings.people().get_mut(self.me()) {
            person.set_away(away.clone());
        }
        match &away {
            Some(_) => self.reply(cx, "306", &["You have been marked as being away"]),
            None => self.reply(cx, "305", &["You are no longer marked as being away"]),
        }
        // Those who share a room with it and asked hear of it.
        let me = self.own_prefix(cx.chat);
        let mut out = Out::new();
        match &away {
            Some(text) => out.text_line("", &me, "AWAY", &[text]),
            None => out.text_line("", &me, "AWAY", &[]),
        }
        let frame = Frame::new(out.into_bytes());
        let mut peers: Vec<ConnId> = cx.chat.room(MAIN).members().collect();
        for room in cx.chat.rooms_of(self.me()) {
            peers.extend(room.members());
        }
        peers.sort_unstable();
        peers.dedup();
        let people = self.settings.people();
        for peer in peers {
            if peer != self.me() && people.get(peer).is_some_and(|p| p.away_notify) {
                cx.effects.push(Effect::SendRaw(peer, frame.clone()));
            }
        }
    }

    fn ison(&self, message: &Message<'_>, cx: &mut Context<'_>) {
        let online: Vec<String> = message
            .params
            .iter()
            .flat_map(|param| param.split(' '))
            .filter_map(|nick| cx.chat.conn_named(nick).and_then(|id| cx.chat.name_of(id)))
            .map(str::to_string)
            .collect();
        self.reply(cx, "303", &[&online.join(" ")]);
    }

    fn userhost(&self, message: &Message<'_>, cx: &mut Context<'_>) {
        let people = self.settings.people();
        let replies: Vec<String> = message
            .params
            .iter()
            .take(5)
            .filter_map(|nick| {
                let id = cx.chat.conn_named(nick)?;
                let name = cx.chat.name_of(id)?;
                let (user, host) = host_of_conn(&people, Some(id), name);
                let away = people.get(id).is_some_and(|p| p.away().is_some());
                Some(format!(
                    "{name}={}{user}@{host}",
                    if away { '-' } else { '+' }
                ))
            })
            .collect();
        drop(people);
        self.reply(cx, "302", &[&replies.join(" ")]);
    }

    /// The room `name`, if this client may see it: neither private nor
    /// secret, or it is in it.
    pub(super) fn visible_room(&self, chat: &Chat, name: &str) -> Option<RoomId> {
        let room = chat.room_named(name)?;
        let the_room = chat.room(room);
        let hidden = the_room.is_private() || the_room.modes.secret;
        let seen = room == MAIN || !hidden || the_room.contains(self.me());
        seen.then_some(room)
    }

    /// The rank marks a client is shown: all of them with `multi-prefix`,
    /// else the highest.
    fn marks<'m>(&self, marks: &'m str) -> &'m str {
        match self.caps.has(caps::MULTI_PREFIX) {
            true => marks,
            false => marks.get(..1).unwrap_or(""),
        }
    }

    /// This client's own `nick!user@host`.
    pub(super) fn own_prefix(&self, chat: &Chat) -> String {
        prefix_of_conn(&self.settings.people(), self.me(), self.nick(chat))
    }

    /// What a client that just joined `room` is sent: its `JOIN`, the
    /// topic, and the names.
    pub(super) fn joined(&self, chat: &Chat, room: RoomId) -> Out {
        let mut out = Out::new();
        let name = chat.room(room).name();
        out.line("", &self.own_prefix(chat), "JOIN", &[name]);
        self.topic_numerics(&mut out, chat, room, false);
        self.names(&mut out, chat, room);
        out
    }

    /// `332` and `333` for the room's topic; `331` when it has none and
    /// `asked` (a `JOIN` says nothing of a missing topic).
    fn topic_numerics(&self, out: &mut Out, chat: &Chat, room: RoomId, asked: bool) {
        let name = chat.room(room).name();
        match chat
            .room(room)
            .topic()
            .filter(|topic| !topic.text.is_empty())
        {
            Some(topic) => {
                self.numeric(out, chat, "332", &[name, &topic.text]);
                let by = if topic.by.is_empty() {
                    &self.settings.server_name
                } else {
                    &topic.by
                };
                let when = unix_seconds(&topic.time).to_string();
                self.numeric(out, chat, "333", &[name, by, &when]);
            }
            None if asked => self.numeric(out, chat, "331", &[name, "No topic is set"]),
            None => {}
        }
    }

    /// `353` lines and `366` for `room`.
    pub(super) fn names(&self, out: &mut Out, chat: &Chat, room: RoomId) {
        self.name_replies(out, chat, room);
        let name = chat.room(room).name();
        self.numeric(out, chat, "366", &[name, "End of /NAMES list"]);
    }

    /// `353` lines for `room`, each within the line limit, every member
    /// with its rank marks.
    fn name_replies(&self, out: &mut Out, chat: &Chat, room: RoomId) {
        let name = chat.room(room).name();
        let kind = if chat.room(room).is_private() || chat.room(room).modes.secret {
            "@"
        } else {
            "="
        };
        let full = self.caps.has(caps::USERHOST_IN_NAMES);
        let people = self.settings.people();
        let mut names: Vec<String> = chat
            .room(room)
            .members()
            .filter_map(|id| Some((id, chat.name_of(id)?)))
            .map(|(id, nick)| {
                let marks = self.marks(chat.rank_marks(room, id));
                match full {
                    true => format!("{marks}{}", prefix_of_conn(&people, id, nick)),
                    false => format!("{marks}{nick}"),
                }
            })
            .collect();
        drop(people);
        names.sort_unstable_by_key(|nick| nick.trim_start_matches(['@', '+']).to_ascii_lowercase());
        let nick = self.nick(chat);
        let room_overhead = self.settings.server_name.len() + nick.len() + name.len() + 16;
        let room_for_names = line::MAX_LINE_BYTES - room_overhead;
        let mut batch = String::new();
        for entry in names {
            if !batch.is_empty() && batch.len() + 1 + entry.len() > room_for_names {
                self.numeric(out, chat, "353", &[kind, name, &batch]);
                batch.clear();
            }
            if !batch.is_empty() {
                batch.push(' ');
            }
            batch.push_str(&entry);
        }
        if !batch.is_empty() {
            self.numeric(out, chat, "353", &[kind, name, &batch]);
        }
    }
}

/// Whether `name` is `#main`.
fn is_main(name: &str) -> bool {
    room_key(name) == room_key(MAIN_ROOM) && name.starts_with('#')
}

/// An IRC message's text as our desks get it: CTCP ACTION becomes `/me`,
/// formatting codes go; `None` for another CTCP request, which has no
/// meaning for our desks.
pub fn our_text(text: &str) -> Option<String> {
    if let Some(ctcp) = text.strip_prefix('\x01') {
        let ctcp = ctcp.strip_suffix('\x01').unwrap_or(ctcp);
        let action = ctcp.strip_prefix("ACTION ")?;
        return Some(format!("/me {}", line::strip_formatting(action)));
    }
    Some(line::strip_formatting(text))
}

/// Seconds since the epoch of one of our times (RFC 3339); 0 if unreadable.
fn unix_seconds(time: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(time).map_or(0, |time| time.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_and_formatting_reach_our_desks_as_text() {
        assert_eq!(
            our_text("\x01ACTION waves\x01").as_deref(),
            Some("/me waves")
        );
        assert_eq!(our_text("\x02hi\x02").as_deref(), Some("hi"));
        assert_eq!(our_text("\x01VERSION\x01"), None);
    }

    #[test]
    fn topic_times_are_seconds() {
        assert_eq!(unix_seconds("1970-01-01T00:01:40.000Z"), 100);
        assert_eq!(unix_seconds("junk"), 0);
    }
}
