//! What IRC asks of the server itself: `LUSERS` (how many are here, and
//! the most there were at once) and `INFO` (what this server is).

use super::line::Out;
use super::Session;
use crate::chat::{Chat, Context};

impl Session {
    /// `251`, `252` (with operators), `255`, `265` and `266`: how many are
    /// here, and the most at once since the server started.
    pub(super) fn lusers(&self, out: &mut Out, chat: &Chat) {
        let online = chat.online();
        let peak = self.settings.peak(online).to_string();
        let opers = self
            .settings
            .people()
            .iter()
            .filter(|(_, person)| person.is_oper())
            .count();
        let online = online.to_string();
        let users = format!("There are {online} users and 0 invisible on 1 servers");
        self.numeric(out, chat, "251", &[&users]);
        if opers > 0 {
            let opers = opers.to_string();
            self.numeric(out, chat, "252", &[&opers, "operator(s) online"]);
        }
        let clients = format!("I have {online} clients and 0 servers");
        self.numeric(out, chat, "255", &[&clients]);
        self.numeric(out, chat, "265", &[&online, &peak, "Current local users"]);
        self.numeric(out, chat, "266", &[&online, &peak, "Current global users"]);
    }

    /// `INFO`: the server's name, version and start.
    pub(super) fn info(&self, cx: &mut Context<'_>) {
        let mut out = Out::new();
        let lines = [
            format!("{} runs {}", self.settings.server_name, super::VERSION),
            "An office chat: desks of its own, IRC clients and browsers in one room".to_string(),
            format!("Up since {}", self.settings.started),
        ];
        for line in &lines {
            self.numeric(&mut out, cx.chat, "371", &[line]);
        }
        self.numeric(&mut out, cx.chat, "374", &["End of INFO list"]);
        self.send(cx, out);
    }
}
