//! What each answer of the store does: a stored message is delivered (to
//! its room, or to the two desks of a direct message), a refusal is told to
//! its sender, a replay or a search goes to the desk that asked, and, when
//! servers share the store, a name claim is settled and the other servers'
//! JOIN and LEAVE reach everyone. Also what the loop says when the store is
//! too far behind to take a request at all.

use chat_shared::message::Presence;
use chat_shared::{ErrorCode, ServerLine};

use super::Chat;
use crate::close::CloseReason;
use crate::directory::ClaimAnswered;
use crate::effect::Effect;
use crate::frames::{self, direct_of, encode};
use crate::ids::Asker;
use crate::room::MAIN;
use crate::store::{
    ClaimOutcome, Completion, Draft, Message, PresenceKind, PresenceNote, SearchRefusal,
};

impl Chat {
    /// Acts on one answer of the store.
    pub fn answer(&mut self, completion: Completion, effects: &mut Vec<Effect>) {
        match completion {
            Completion::Appended(messages) => {
                self.saves_again(effects);
                for message in &messages {
                    self.deliver(message, effects);
                }
            }
            Completion::NotSaved { drafts, error } => self.not_saved(drafts, &error, effects),
            Completion::Unsure { drafts, error } => self.unsure(drafts, &error, effects),
            Completion::Duplicate { draft, id } => {
                // Stored before, and delivered then: the desk learns which
                // message its line became, and gets no second copy.
                if let Some(tx) = &draft.tx {
                    let sent = encode(&ServerLine::Sent { tx: &tx.id, id });
                    effects.push(Effect::Answer(draft.from, sent));
                }
                self.answered(Some(draft.from.conn), effects);
            }
            Completion::Replay {
                asker,
                messages,
                skipped,
            } => {
                self.replay(asker, &messages, skipped, effects);
                self.answered(Some(asker.conn), effects);
            }
            Completion::ReplayFailed { asker, error } => {
                tracing::warn!(
                    error,
                    "[!] The room's log could not replay for a resuming desk"
                );
                self.replay_history(asker, effects);
                self.answered(Some(asker.conn), effects);
            }
            Completion::Found { asker, messages } => {
                self.searching.remove(&asker.conn);
                effects.extend(
                    frames::search_results(&messages)
                        .into_iter()
                        .map(|frame| Effect::Answer(asker, frame)),
                );
            }
            Completion::SearchFailed { asker, why } => self.search_refused(asker, why, effects),
            Completion::Claimed {
                asker,
                claim,
                outcome,
            } => match self.directory.claim_answered(asker, &outcome, effects) {
                ClaimAnswered::Stale => {
                    if outcome == ClaimOutcome::Granted {
                        effects.push(Effect::Release(claim));
                    }
                }
                ClaimAnswered::Granted(then_say) => {
                    self.enter_held_rooms(asker.conn, effects);
                    if let Some((text, tx)) = then_say {
                        self.say(asker, &text, tx.as_deref(), effects);
                    }
                    effects.push(Effect::ReadOn(asker.conn));
                }
                ClaimAnswered::Refused => effects.push(match outcome {
                    ClaimOutcome::Unavailable(_) => {
                        Effect::Close(asker.conn, CloseReason::RoomLinkDown)
                    }
                    _ => Effect::ReadOn(asker.conn),
                }),
            },
            Completion::RoomChanged(change) => self.room_changed(change, effects),
            Completion::RoomNotSaved { asker, error } => {
                tracing::warn!(
                    error,
                    "[!] The room's log could not keep a change to the rooms"
                );
                let detail = "that change to the rooms was not saved; try again later";
                effects.push(Effect::Answer(
                    asker,
                    frames::error(ErrorCode::RoomNotSaved, detail),
                ));
                self.answered(Some(asker.conn), effects);
            }
            Completion::Presence(note) => self.presence(note, effects),
            Completion::Roster(members) => self.directory.set_remote(members),
            Completion::LinkDown(error) => {
                self.cannot_save(&format!("the room's link is down: {error}"), effects)
            }
            Completion::LinkUp => self.saves_again(effects),
        }
    }

    /// Delivers a stored message: a room message to its room (and into its
    /// history), a direct message to the desks it is between that are here.
    /// A desk that tagged it (`/tx`) first learns which message it became.
    fn deliver(&mut self, message: &Message, effects: &mut Vec<Effect>) {
        let writer = match &message.direct {
            Some(direct) => self.directory.conn_of_desk(direct.from_desk),
            None => self.sender_here(message),
        };
        self.deliver_from(message, writer, effects);
        // After its copy: a writer that waits reads on once it has it.
        self.answered(writer, effects);
    }

    fn deliver_from(
        &mut self,
        message: &Message,
        writer: Option<crate::ids::ConnId>,
        effects: &mut Vec<Effect>,
    ) {
        if let Some(tx) = &message.tx {
            if let Some(sender) = self.directory.conn_of_desk(tx.desk) {
                let sent = encode(&ServerLine::Sent {
                    tx: &tx.id,
                    id: message.id,
                });
                effects.push(Effect::Send(sender, sent));
            }
        }
        if let Some(direct) = &message.direct {
            let frame = encode(&ServerLine::Direct(direct_of(message, direct)));
            let writer = self.directory.conn_of_desk(direct.from_desk);
            let reader = self.directory.conn_of_desk(direct.to_desk);
            // The same connection twice when someone writes to themselves.
            if let Some(writer) = writer {
                effects.push(Effect::Copy(writer, frame.clone()));
            }
            if let Some(reader) = reader.filter(|reader| Some(*reader) != writer) {
                effects.push(Effect::Send(reader, frame));
            }
            return;
        }
        self.directory.touch_remote(&message.name);
        let room = match &message.room {
            None => MAIN,
            Some(name) => match self.rooms.find(name) {
                Some(room) => room,
                // A room this server never heard of (made on another server
                // while this one lagged): nobody here is in it.
                None => return,
            },
        };
        let history = self.hist.frame(message);
        let frame = self.rooms.get_mut(room).record(message, history);
        effects.push(Effect::Message {
            room,
            frame,
            sender: writer,
        });
    }

    /// The connection here that said a room message, if it is here.
    fn sender_here(&self, message: &Message) -> Option<crate::ids::ConnId> {
        message
            .tx
            .as_ref()
            .map(|tx| tx.desk)
            .or_else(|| self.directory.desk_named(&message.name))
            .and_then(|desk| self.directory.conn_of_desk(desk))
    }

    /// The answer to a `/resume`: `RESUME`, then the missed messages as
    /// `HIST` lines, oldest first; only the newest that fit in the replay
    /// budget, the others counted as skipped.
    fn replay(&mut self, to: Asker, messages: &[Message], skipped: u64, effects: &mut Vec<Effect>) {
        let mut total = 0;
        let budget = self.settings.replay_budget_bytes;
        let mut replayed = Vec::new();
        for message in messages.iter().rev() {
            let frame = self.hist.frame(message);
            total += frame.len();
            if total > budget {
                break;
            }
            replayed.push(frame);
        }
        replayed.reverse();
        let skipped = skipped + (messages.len() - replayed.len()) as u64;
        effects.push(Effect::Answer(
            to,
            encode(&ServerLine::Resumed {
                epoch: &self.settings.epoch,
                skipped,
                replayed: replayed.len() as u64,
            }),
        ));
        effects.extend(replayed.into_iter().map(|frame| Effect::Answer(to, frame)));
    }

    /// Someone joined or left, on this server or another: everyone hears it.
    fn presence(&mut self, note: PresenceNote, effects: &mut Vec<Effect>) {
        let own = self.settings.shared_as.as_deref() == Some(note.server.as_str());
        if !own {
            match note.kind {
                PresenceKind::Join | PresenceKind::Return => {
                    self.directory.remote_joined(crate::store::RemoteMember {
                        name: note.name.clone(),
                        color: note.color,
                        server: note.server.clone(),
                        desk: note.desk,
                    })
                }
                PresenceKind::Leave => self.directory.remote_left(&note.name, &note.server),
                PresenceKind::Desk => {
                    self.directory
                        .remote_desk(&note.name, &note.server, note.desk)
                }
            }
        }
        let presence = Presence {
            time: &note.time,
            name: &note.name,
            color: note.color,
            // Other servers do not pass reasons on.
            reason: "",
        };
        let line = match note.kind {
            PresenceKind::Join => ServerLine::Join(presence),
            PresenceKind::Return if self.directory.is_news(note.desk, true) => {
                ServerLine::Join(presence)
            }
            PresenceKind::Leave => {
                self.directory.told_leaving(note.desk);
                ServerLine::Leave(presence)
            }
            PresenceKind::Return | PresenceKind::Desk => return,
        };
        effects.push(Effect::Broadcast(MAIN, encode(&line)));
    }

    /// Tells each sender that its message was not saved (so nobody got it),
    /// and every desk, once, that the store cannot save. What went wrong
    /// goes to the server's log, not to the desks.
    pub fn not_saved(&mut self, drafts: Vec<Draft>, error: &str, effects: &mut Vec<Effect>) {
        self.cannot_save(error, effects);
        let detail = "your message was not saved, so nobody got it; send it again later";
        let untagged = frames::error(ErrorCode::NotSaved, detail);
        for draft in drafts {
            let frame = match &draft.tx {
                Some(tx) => encode(&ServerLine::Unsent { tx: &tx.id, detail }),
                None => untagged.clone(),
            };
            effects.push(Effect::Answer(draft.from, frame));
            self.answered(Some(draft.from.conn), effects);
        }
    }

    /// Tells each sender that the store cannot tell whether its message was
    /// stored: a desk that tagged it sends it again with the same ID,
    /// which cannot double it.
    fn unsure(&mut self, drafts: Vec<Draft>, error: &str, effects: &mut Vec<Effect>) {
        tracing::warn!(
            error,
            messages = drafts.len(),
            "[!] The room's log did not say whether messages were stored"
        );
        let detail = "the server cannot tell whether your message was stored (its log did not \
                      answer in time); if it was, everyone gets it";
        for draft in drafts {
            let frame = match &draft.tx {
                Some(tx) => encode(&ServerLine::Unsure { tx: &tx.id, detail }),
                None => frames::error(ErrorCode::Unsure, detail),
            };
            effects.push(Effect::Answer(draft.from, frame));
            self.answered(Some(draft.from.conn), effects);
        }
    }

    /// A search was not answered: the desk is told why, in words it can act
    /// on; what went wrong inside goes to the server's log only.
    fn search_refused(&mut self, asker: Asker, why: SearchRefusal, effects: &mut Vec<Effect>) {
        self.searching.remove(&asker.conn);
        let (code, detail) = match why {
            SearchRefusal::Busy => (
                ErrorCode::SearchBusy,
                "the server is answering many searches; try again in a moment",
            ),
            SearchRefusal::Indexing => (
                ErrorCode::SearchBusy,
                "this server is still indexing the room's messages for search; try again in a moment",
            ),
            SearchRefusal::TooBroad => (
                ErrorCode::SearchTooBroad,
                "that search took too long and was stopped; add words, or rarer ones",
            ),
            SearchRefusal::BadWords => (
                ErrorCode::BadSearch,
                "there is nothing to search for in that; search for whole words",
            ),
            SearchRefusal::Failed(error) => {
                tracing::warn!(error, "[!] The room's log could not search");
                (
                    ErrorCode::SearchFailed,
                    "the search could not be run; try again later",
                )
            }
        };
        effects.push(Effect::Answer(asker, frames::error(code, detail)));
    }

    /// The store is too far behind to take a replay: the recent history has
    /// to do.
    pub(super) fn replay_unavailable(&mut self, asker: Asker, effects: &mut Vec<Effect>) {
        tracing::warn!("[!] The room's log is too busy to replay for a resuming desk.");
        self.replay_history(asker, effects);
        self.answered(Some(asker.conn), effects);
    }

    /// The store is too far behind to take a search.
    pub(super) fn search_unavailable(&mut self, asker: Asker, effects: &mut Vec<Effect>) {
        self.search_refused(asker, SearchRefusal::Busy, effects);
    }

    /// Tells every desk, once, that the store cannot save.
    fn cannot_save(&mut self, error: &str, effects: &mut Vec<Effect>) {
        if !self.saving {
            return;
        }
        self.saving = false;
        tracing::error!(
            error,
            "[!] The room's log cannot save messages; they are refused until it can."
        );
        effects.push(Effect::NoticeAll(encode(&ServerLine::Notice {
            text: "the server cannot save messages; they are refused, not delivered, until it can",
        })));
    }

    /// Tells every desk, once, that the store saves again after it could not.
    fn saves_again(&mut self, effects: &mut Vec<Effect>) {
        if self.saving {
            return;
        }
        self.saving = true;
        tracing::info!("[*] The room's log saves messages again.");
        effects.push(Effect::NoticeAll(encode(&ServerLine::Notice {
            text: "messages are saved and delivered again",
        })));
    }
}
