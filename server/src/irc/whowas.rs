//! `WHOWAS`: the nicks of IRC clients that left, newest first, at most
//! [`MAX_WAS`] of them (the oldest go first). Our desks' names are not
//! kept: a desk comes back under its name, and `/who` is what desks have.

use std::collections::VecDeque;

use chat_shared::name::name_key;

use super::line::{Message, Out};
use super::Session;
use crate::chat::Context;

/// Most nicks kept for `WHOWAS`, across the server.
pub const MAX_WAS: usize = 256;

/// One IRC client that left.
#[derive(Debug)]
pub struct Was {
    /// Its nick.
    pub nick: Box<str>,
    /// Its user name.
    pub user: Box<str>,
    /// Its real name.
    pub real_name: Box<str>,
}

/// The clients that left, oldest first.
#[derive(Debug, Default)]
pub struct Whowas {
    gone: VecDeque<Was>,
}

impl Whowas {
    /// `was` left; past [`MAX_WAS`] the oldest is forgotten.
    pub fn record(&mut self, was: Was) {
        if self.gone.len() == MAX_WAS {
            self.gone.pop_front();
        }
        self.gone.push_back(was);
    }

    /// Those who were `nick` (any case), newest first.
    pub fn named<'a>(&'a self, nick: &str) -> impl Iterator<Item = &'a Was> + 'a {
        let key = name_key(nick);
        self.gone
            .iter()
            .rev()
            .filter(move |was| name_key(&was.nick) == key)
    }
}

impl Session {
    /// `WHOWAS nick [count]`: `314` and `312` for each of the `count`
    /// latest (all kept if `count` is missing or not positive), or `406`;
    /// then `369`.
    pub(super) fn whowas(&self, message: &Message<'_>, cx: &mut Context<'_>) {
        let Some(nick) = message.param(0).filter(|nick| !nick.is_empty()) else {
            self.reply(cx, "431", &["No nickname given"]);
            return;
        };
        let count = message
            .param(1)
            .and_then(|count| count.parse::<i64>().ok())
            .filter(|count| *count > 0)
            .map_or(MAX_WAS, |count| usize::try_from(count).unwrap_or(MAX_WAS));
        let server = self.settings.server_name.clone();
        let mut out = Out::new();
        let people = self.settings.people();
        let mut found = 0;
        for was in people.was().named(nick).take(count) {
            found += 1;
            let params = [&*was.nick, &was.user, "irc", "*", &was.real_name];
            self.numeric(&mut out, cx.chat, "314", &params);
            let params = [&*was.nick, &server, "office chat"];
            self.numeric(&mut out, cx.chat, "312", &params);
        }
        drop(people);
        if found == 0 {
            self.numeric(
                &mut out,
                cx.chat,
                "406",
                &[nick, "There was no such nickname"],
            );
        }
        self.numeric(&mut out, cx.chat, "369", &[nick, "End of WHOWAS"]);
        self.send(cx, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn was(nick: &str, user: &str) -> Was {
        Was {
            nick: nick.into(),
            user: user.into(),
            real_name: "Real".into(),
        }
    }

    #[test]
    fn the_newest_come_first_and_the_oldest_go_past_the_bound() {
        let mut whowas = Whowas::default();
        whowas.record(was("bob", "first"));
        whowas.record(was("Bob", "second"));
        let users: Vec<&str> = whowas.named("BOB").map(|w| &*w.user).collect();
        assert_eq!(users, ["second", "first"]);
        for n in 0..MAX_WAS {
            whowas.record(was(&format!("n{n}"), "x"));
        }
        assert_eq!(whowas.gone.len(), MAX_WAS);
        assert_eq!(whowas.named("bob").count(), 0);
        assert_eq!(whowas.named("n0").count(), 1);
    }
}
