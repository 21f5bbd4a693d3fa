//! `NICK` from a registered client: a new name (or the same in another
//! case), taken in the rules ([`crate::chat::Chat::rename`]) and told as
//! `NICK` to the client and to the IRC clients that share a channel with
//! it. Our desks are not told (our protocol has no line for it): they see
//! the new name on what it says next, and in `/who`.
//!
//! A logged-in client keeps its account's name, and on servers sharing a
//! store a name cannot change (it would have to be claimed across them):
//! both are `447`.

use super::line::{Message, Out};
use super::registration::valid_nick;
use super::Session;
use crate::chat::{Chat, Context};
use crate::directory::Unrenamed;
use crate::effect::Effect;
use crate::frames::Frame;
use crate::ids::ConnId;
use crate::room::MAIN;

impl Session {
    /// `NICK new`.
    pub(super) fn nick_change(&self, message: &Message<'_>, cx: &mut Context<'_>) {
        let Some(nick) = message.param(0).filter(|nick| !nick.is_empty()) else {
            self.reply(cx, "431", &["No nickname given"]);
            return;
        };
        if !valid_nick(nick) {
            self.reply(cx, "432", &[nick, "Erroneous nickname"]);
            return;
        }
        if self.nick(cx.chat) == nick {
            return;
        }
        let before = self.own_prefix(cx.chat);
        let why = match cx.chat.rename(self.me(), nick) {
            Ok(_) => {
                self.settings.people().renamed(self.me(), nick);
                let mut out = Out::new();
                out.line("", &before, "NICK", &[nick]);
                let frame = Frame::new(out.into_bytes());
                let told = self.sharing_a_channel(cx.chat).into_iter();
                cx.effects
                    .extend(told.map(|peer| Effect::SendRaw(peer, frame.clone())));
                return;
            }
            Err(Unrenamed::Taken) => {
                self.reply(cx, "433", &[nick, "Nickname is already in use"]);
                return;
            }
            Err(Unrenamed::Account) => "Your name is your account's; it cannot change",
            Err(Unrenamed::Shared | Unrenamed::Nameless) => {
                "Names cannot change on this server; reconnect with the new nick"
            }
        };
        self.reply(cx, "447", &[nick, why]);
    }

    /// This client and the IRC clients that share a channel with it
    /// (`#main` counts when both show it).
    fn sharing_a_channel(&self, chat: &Chat) -> Vec<ConnId> {
        let people = self.settings.people();
        let mut peers: Vec<ConnId> = chat
            .rooms_of(self.me())
            .flat_map(|room| room.members())
            .filter(|peer| people.get(*peer).is_some())
            .collect();
        if self.shows_main() {
            peers.extend(
                chat.members(MAIN)
                    .filter(|peer| people.get(*peer).is_some_and(|p| p.shows_main)),
            );
        }
        peers.push(self.me());
        peers.sort_unstable();
        peers.dedup();
        peers
    }
}
