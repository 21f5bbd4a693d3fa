//! What each line of our protocol does (and a seed desk's message, which is
//! `NAME<SEP>TEXT` with a colour): names, messages, direct messages,
//! `/who`, `/resume`, `/search`, `/quit`.

use chat_shared::message::timestamp_now;
use chat_shared::sanitize::clean;
use chat_shared::{ClientLine, Color, ErrorCode, ParseError, ServerLine};

use super::Chat;
use crate::auth::Gate;
use crate::close::{AfterLine, CloseReason};
use crate::directory::{JoinRequest, Joined};
use crate::effect::Effect;
use crate::frames::{self, encode, Frame};
use crate::ids::{Asker, ConnId};
use crate::room::MAIN;
use crate::store::{DirectTo, Draft, Request, Tx};

impl Chat {
    /// Carries out one line of our protocol from `from`.
    pub(super) fn command(
        &mut self,
        from: Asker,
        line: Result<ClientLine<'_>, ParseError>,
        effects: &mut Vec<Effect>,
    ) -> AfterLine {
        let id = from.conn;
        let line = match line {
            Ok(line) => line,
            Err(err) => {
                self.refuse(id, &err, effects);
                return AfterLine::Continue;
            }
        };
        match line {
            ClientLine::Say { name, text } => self.say_as(from, name, None, text, None, effects),
            ClientLine::Tagged { tx, line } => match *line {
                ClientLine::Say { name, text } => {
                    self.say_as(from, name, None, text, Some(tx), effects)
                }
                ClientLine::Direct { to, text } => self.direct(from, to, text, Some(tx), effects),
                ClientLine::To { room, text } => self.say_in(from, room, text, Some(tx), effects),
                // The parser lets nothing else be tagged.
                _ => {}
            },
            ClientLine::Join { name, color, desk } => {
                let request = JoinRequest {
                    name,
                    color,
                    desk,
                    account: account_of(&self.gate, id),
                };
                if self.directory.join(from, request, effects) == Joined::Now {
                    self.enter_held_rooms(id, effects);
                }
            }
            ClientLine::Who => effects.push(Effect::Send(id, self.directory.who())),
            ClientLine::Ping => effects.push(Effect::Send(id, encode(&ServerLine::Pong))),
            ClientLine::Quit => {
                effects.push(Effect::Send(id, frames::bye("goodbye")));
                return AfterLine::Stop(CloseReason::Quit);
            }
            ClientLine::Resume { epoch, after, desk } => {
                let desk = match desk {
                    Some(secret) => {
                        let desk = self.directory.prove_desk(id, secret, effects);
                        self.enter_held_rooms(id, effects);
                        Some(desk)
                    }
                    None => self.directory.member(id).map(|m| m.desk),
                };
                if epoch == self.settings.epoch {
                    // This pass's drafts are not in the store yet; they
                    // reach this desk after the replay, as live messages,
                    // in order.
                    effects.push(Effect::Ask(Request::Replay {
                        asker: from,
                        after,
                        desk,
                        scope: self.scope_of(id),
                        budget_bytes: self.settings.replay_budget_bytes,
                    }));
                } else {
                    self.replay_history(from, effects);
                }
            }
            ClientLine::Direct { to, text } => self.direct(from, to, text, None, effects),
            ClientLine::To { room, text } => self.say_in(from, room, text, None, effects),
            ClientLine::Room(command) => self.room_command(from, command, effects),
            ClientLine::Search { words, room } => self.search(from, words, room, effects),
            // Logins are handled before a line gets here; here it is either
            // a server without accounts or a second `/auth`.
            ClientLine::Auth { .. } => effects.push(Effect::Send(
                id,
                frames::error(
                    ErrorCode::BadCommand,
                    "/auth is taken only as the first line, on a server run with --auth token",
                ),
            )),
            ClientLine::Blank => {}
        }
        AfterLine::Continue
    }

    /// The reply to a line the rules could not understand.
    pub(super) fn refuse(&self, id: ConnId, err: &ParseError, effects: &mut Vec<Effect>) {
        effects.push(Effect::Send(
            id,
            frames::error(err.code(), &err.to_string()),
        ));
    }

    /// The reply to a line that went over the length limit.
    pub(super) fn line_too_long(&self) -> Frame {
        let limit = self.settings.max_line_bytes;
        frames::error(
            ErrorCode::LineTooLong,
            &format!("lines are at most {limit} bytes; that one was discarded"),
        )
    }

    /// Asks the store for what `words` find, one search per desk at a time.
    fn search(&mut self, from: Asker, words: &str, room: Option<&str>, effects: &mut Vec<Effect>) {
        let id = from.conn;
        if !self.settings.can_search {
            effects.push(Effect::Send(
                id,
                frames::error(ErrorCode::NeedsLog, NO_SEARCH),
            ));
            return;
        }
        let Some(scope) = self.search_scope(id, room, effects) else {
            return;
        };
        if !self.searching.insert(id) {
            let detail = "your last search is not answered yet; wait for it, then search again";
            effects.push(Effect::Send(
                id,
                frames::error(ErrorCode::SearchBusy, detail),
            ));
            return;
        }
        effects.push(Effect::Ask(Request::Search {
            asker: from,
            words: words.to_string(),
            desk: self.directory.member(id).map(|m| m.desk),
            scope,
        }));
    }

    /// Joins as `name` if needed (with `color`, the first time), then says
    /// `text` (tagged `tx` by the desk, if it was): at once, or once the
    /// name is granted across servers.
    pub(super) fn say_as(
        &mut self,
        from: Asker,
        name: &str,
        color: Option<Color>,
        text: &str,
        tx: Option<&str>,
        effects: &mut Vec<Effect>,
    ) {
        let request = JoinRequest {
            name,
            color,
            desk: None,
            account: account_of(&self.gate, from.conn),
        };
        match self.directory.join(from, request, effects) {
            Joined::Now => {
                self.enter_held_rooms(from.conn, effects);
                self.say(from, text, tx, effects);
            }
            Joined::Pending => self.directory.say_when_granted(from.conn, text, tx),
            Joined::Refused => {}
        }
    }

    /// Drafts `text` from `from` for the store; nothing is sent until the
    /// store has it.
    pub(super) fn say(
        &mut self,
        from: Asker,
        text: &str,
        tx: Option<&str>,
        effects: &mut Vec<Effect>,
    ) {
        if let Some(draft) = self.draft(from, text, None, tx) {
            effects.push(Effect::Publish(draft));
        }
    }

    /// A direct message from `from` to the desk named `to`, online here or
    /// on another server sharing the store (each server delivers it to the
    /// one of its two desks it holds).
    fn direct(
        &mut self,
        from: Asker,
        to: &str,
        text: &str,
        tx: Option<&str>,
        effects: &mut Vec<Effect>,
    ) {
        let Some(from_desk) = self.directory.member(from.conn).map(|m| m.desk) else {
            let detail = "take a name first (/join NAME)";
            effects.push(Effect::Send(
                from.conn,
                frames::error(ErrorCode::WrongName, detail),
            ));
            return;
        };
        let Some((name, to_desk)) = self.directory.find(to) else {
            let detail = format!("nobody called {to} is online");
            effects.push(Effect::Send(
                from.conn,
                frames::error(ErrorCode::NoSuchName, &detail),
            ));
            return;
        };
        let direct = DirectTo {
            to: name.to_string(),
            from_desk,
            to_desk,
        };
        if let Some(draft) = self.draft(from, text, Some(direct), tx) {
            effects.push(Effect::Publish(draft));
        }
    }

    pub(super) fn draft(
        &mut self,
        from: Asker,
        text: &str,
        direct: Option<DirectTo>,
        tx: Option<&str>,
    ) -> Option<Draft> {
        self.directory.touch(from.conn);
        let member = self.directory.member(from.conn)?;
        Some(Draft {
            from,
            time: timestamp_now(),
            name: member.name.clone(),
            color: member.color,
            text: clean(text).into_owned(),
            direct,
            tx: tx.map(|id| Tx {
                desk: member.desk,
                id: id.to_string(),
            }),
            room: None,
        })
    }

    /// The answer to a `/resume` about another store (or one that cannot
    /// be read): `RESUME` with this store's epoch, then the recent history.
    pub(super) fn replay_history(&self, to: Asker, effects: &mut Vec<Effect>) {
        let history = self.rooms.get(MAIN).history();
        effects.push(Effect::Answer(
            to,
            encode(&ServerLine::Resumed {
                epoch: &self.settings.epoch,
                skipped: 0,
                replayed: history.len() as u64,
            }),
        ));
        effects.extend(history.map(|frame| Effect::Answer(to, frame.clone())));
    }
}

/// The account connection `id` logged in to, if any: the one name it may
/// take.
fn account_of(gate: &Option<Gate>, id: ConnId) -> Option<&str> {
    gate.as_ref().and_then(|gate| gate.account_of(id))
}

/// Why `/search` is refused when the store cannot search.
pub(super) const NO_SEARCH: &str =
    "search needs the room's log; this server keeps the room in memory (--db none)";
