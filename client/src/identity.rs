//! Who this desk is in the room, and how it gets in on each connection:
//! the name and colour it joins under (from the flags, the name prompt, or
//! the server's welcome), the account's token, the desk's secret, and the
//! handshake's steps (`/auth`, `/join`, then `/resume`). Decides what each
//! answer to the handshake leads to: join again, try a held name again
//! shortly, ask for another name, or give up. Pure state, given the time;
//! the session sends and prints.

use std::time::{Duration, Instant};

use chat_shared::message::check_name;
use chat_shared::{Color, ErrorCode, MessageId};

use crate::commands::{interpret, Typed};
use crate::render;

/// How long the first name prompt waits for the server's history replay,
/// so the replay is printed before the prompt rather than across it. The
/// server sends it at once on connect, so on a LAN it takes milliseconds;
/// with no history nothing comes and the wait is this long, too short for a
/// person to notice.
const HISTORY_GRACE: Duration = Duration::from_millis(250);

/// After a loss, how long a name refused as taken is tried again before
/// the desk asks for another. Most likely it is held for the connection
/// that was lost: by a server that has not noticed yet, or, with servers
/// sharing one room through Redis, by a server that died, whose names
/// expire after 20 s. Someone else taking the name meanwhile costs the
/// desk this wait.
const NAME_HELD_GRACE: Duration = Duration::from_secs(30);

/// How often a held name is tried again.
const REJOIN_INTERVAL: Duration = Duration::from_secs(1);

/// A name to join with, and the colour to ask for (`None`: the server
/// gives the one the name gives).
pub type JoinAs = (String, Option<Color>);

/// The desk's identity and its progress into the room.
#[derive(Debug)]
pub struct Identity {
    /// Our name, as the server stored it; `None` until welcomed, and again
    /// if someone took it while we were away.
    name: Option<String>,
    /// The colour to ask for: `--color`, then the one the server gave us,
    /// once it did, so everyone keeps seeing us in it; `None` lets the
    /// server give the one our name gives.
    color: Option<Color>,
    /// `--color`: what `color` goes back to when our name is lost.
    chosen_color: Option<Color>,
    /// The name to join with next, once connected (`--name`, or typed
    /// while the connection was down).
    candidate: Option<String>,
    /// The next line typed answers "Enter your name".
    asking_name: bool,
    /// Sent `/join` with this name and colour; no answer yet.
    joining_as: Option<JoinAs>,
    /// The account's token, from `--token-file` or asked for once the
    /// server wanted one; sent (`/auth`) on every connection from then on.
    token: Option<String>,
    /// This desk's secret, from its first `WELCOME` of this run: presented
    /// with every `/join` and `/resume`, it keeps the desk the same desk
    /// (its name, its direct messages) across connections and servers.
    desk_secret: Option<String>,
    /// What to ask `/resume` for once welcomed on this connection: the
    /// log and the last message shown.
    resume_from: Option<(String, MessageId)>,
    /// Since when our name has been refused as taken on rejoining, for
    /// [`NAME_HELD_GRACE`]; `None` once welcomed.
    name_held_since: Option<Instant>,
    /// Our name was refused as taken on a rejoin: try it again then.
    rejoin_at: Option<Instant>,
    /// The first name prompt waits for the history replay until then.
    history_until: Option<Instant>,
}

/// What to do after the server refused the name or colour the desk asked
/// to join with.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Join again at once, as this.
    JoinAgain(JoinAs),
    /// Our own name, most likely still held for the connection we lost:
    /// it is tried again shortly ([`Identity::rejoin_due`]). With the
    /// notice to show, the first time.
    NameHeld(Option<String>),
    /// Say this, and ask for another name.
    AskAnother(String),
    /// The desk cannot join at all: the session ends, for this reason.
    Final(String),
}

/// What a line typed at the name prompt is.
#[derive(Debug, PartialEq, Eq)]
pub enum NameTyped<'a> {
    /// `q` or `/quit`: leave.
    Quit,
    /// Nothing: ask again.
    Blank,
    /// Not a name anyone may have: say this, and ask again.
    Refused(String),
    /// A name to join as.
    Name(&'a str),
}

/// Reads a line typed at the name prompt.
pub fn read_name(line: &str) -> NameTyped<'_> {
    if interpret(line) == Typed::Quit {
        return NameTyped::Quit;
    }
    let name = line.trim();
    if name.is_empty() {
        return NameTyped::Blank;
    }
    match check_name(name) {
        Ok(()) => NameTyped::Name(name),
        Err(why) => NameTyped::Refused(render::name_refused(name, &why.to_string())),
    }
}

impl Identity {
    /// A desk that will join as `name` (`--name`; asked for when `None`) in
    /// `color` (`--color`), signing in with `token` if it has one.
    pub fn new(name: Option<String>, color: Option<Color>, token: Option<String>) -> Identity {
        Identity {
            name: None,
            color,
            chosen_color: color,
            candidate: name,
            asking_name: false,
            joining_as: None,
            token,
            desk_secret: None,
            resume_from: None,
            name_held_since: None,
            rejoin_at: None,
            history_until: None,
        }
    }

    /// Our name in the room, once welcomed.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Our name, or the one we are joining with: who a refusal is about.
    pub fn name_or_joining(&self) -> Option<&str> {
        self.name
            .as_deref()
            .or(self.joining_as.as_ref().map(|(name, _)| name.as_str()))
    }

    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The token, typed once the server wanted one.
    pub fn set_token(&mut self, token: String) {
        self.token = Some(token);
    }

    pub fn desk_secret(&self) -> Option<&str> {
        self.desk_secret.as_deref()
    }

    /// The secret to join as `name` with: the desk's, when it comes back
    /// under the name it had, so that it is the same desk (and not news to
    /// the room); none under another name, which is news (the `/resume`
    /// that follows still proves the desk, for its direct messages).
    pub fn secret_for(&self, name: &str) -> Option<&str> {
        let same = self.name.as_deref().is_some_and(|had| {
            chat_shared::name::name_key(had) == chat_shared::name::name_key(name)
        });
        self.desk_secret.as_deref().filter(|_| same)
    }

    /// Whether the next line typed answers the name prompt.
    pub fn asking_name(&self) -> bool {
        self.asking_name
    }

    /// The name prompt is shown: the next line typed answers it.
    pub fn ask_name(&mut self) {
        self.asking_name = true;
    }

    /// Whether a `/join` awaits its answer.
    pub fn joining(&self) -> bool {
        self.joining_as.is_some()
    }

    /// A connection is open; on it, `/resume` will ask for `resume_from`
    /// once welcomed. Returns who to join as now: our name, or the one
    /// chosen while the connection was down; `None` if there is none yet.
    pub fn connection_opened(
        &mut self,
        resume_from: Option<(String, MessageId)>,
    ) -> Option<JoinAs> {
        self.resume_from = resume_from;
        let name = self.name.clone().or_else(|| self.candidate.take())?;
        Some((name, self.color))
    }

    /// `/join` went out as `joining`.
    pub fn join_sent(&mut self, joining: JoinAs) {
        self.joining_as = Some(joining);
    }

    /// `/join` could not go out (the connection is down): join with `name`
    /// on the next one.
    pub fn join_not_sent(&mut self, name: String) {
        self.candidate = Some(name);
    }

    /// The `/join` awaiting its answer, taken back to be sent again.
    pub fn take_joining(&mut self) -> Option<JoinAs> {
        self.joining_as.take()
    }

    /// A name was typed at the prompt. Returns who to join as now when
    /// `connected`; otherwise it is kept for the next connection.
    pub fn name_chosen(&mut self, name: &str, connected: bool) -> Option<JoinAs> {
        self.asking_name = false;
        if connected {
            return Some((name.to_string(), self.color));
        }
        self.candidate = Some(name.to_string());
        None
    }

    /// The server refused the `/join` awaiting its answer with `code`
    /// (`name-taken`, `bad-name` or `bad-color`) and `detail`, at `now`;
    /// `signed_in` when `/auth` went out on this connection. `None` when no
    /// `/join` awaited an answer.
    pub fn refused(
        &mut self,
        code: ErrorCode,
        detail: &str,
        signed_in: bool,
        now: Instant,
    ) -> Option<Refusal> {
        let (name, color) = self.joining_as.take()?;
        if code == ErrorCode::BadColor && color.is_some() {
            // Our palette and the server's disagree; let it pick.
            self.color = None;
            return Some(Refusal::JoinAgain((name, None)));
        }
        if code == ErrorCode::NameTaken && self.name.is_some() {
            let (since, notice) = match self.name_held_since {
                Some(since) => (since, None),
                None => (now, Some(render::name_held(&name))),
            };
            self.name_held_since = Some(since);
            // Signed in, the name is the account's: nobody else can hold it.
            if signed_in || now.saturating_duration_since(since) < NAME_HELD_GRACE {
                self.rejoin_at = Some(now + REJOIN_INTERVAL);
                return Some(Refusal::NameHeld(notice));
            }
            self.name_held_since = None;
        }
        // Signed in, the desk is its account's name and no other, so asking
        // for another name would be useless.
        if code == ErrorCode::NameTaken && signed_in {
            return Some(Refusal::Final(render::account_in_use(&name)));
        }
        // A name we had is ours no more: the next one is asked for, and
        // unless a colour was chosen, it brings its own.
        let rejoining = self.name.take().is_some();
        if rejoining {
            self.color = self.chosen_color;
        }
        Some(Refusal::AskAnother(match code {
            ErrorCode::NameTaken if rejoining => render::name_taken_while_away(&name),
            ErrorCode::NameTaken => render::name_taken(&name),
            _ => render::name_refused(&name, detail),
        }))
    }

    /// Whether our held name is due to be tried again at `now`: returns who
    /// to join as when it is and the desk is `waiting` (connected, not in
    /// the room) with no `/join` awaiting an answer.
    pub fn rejoin_due(&mut self, now: Instant, waiting: bool) -> Option<JoinAs> {
        if self.rejoin_at.is_none_or(|at| at > now) {
            return None;
        }
        self.rejoin_at = None;
        if !waiting || self.joining_as.is_some() {
            return None;
        }
        Some((self.name.clone()?, self.color))
    }

    /// `WELCOME`: we are `name` in `color`. The first desk secret is the
    /// desk's for this whole run; a rejoin gets a new one, which the
    /// `/resume` that follows replaces with the first.
    pub fn welcomed(&mut self, name: &str, color: Color, desk: &str) {
        self.desk_secret.get_or_insert_with(|| desk.to_string());
        self.joining_as = None;
        self.asking_name = false;
        self.name_held_since = None;
        self.name = Some(name.to_string());
        self.color = Some(color);
    }

    /// What to ask `/resume` for, now that the desk is welcomed on this
    /// connection; `None` for a newcomer.
    pub fn take_resume(&mut self) -> Option<(String, MessageId)> {
        self.resume_from.take()
    }

    /// The connection is lost. A name asked for and not yet answered is
    /// asked for again; a name we had is rejoined with anyway, so no held
    /// name waits to be tried.
    pub fn connection_lost(&mut self) {
        if let Some((name, _)) = self.joining_as.take() {
            if self.name.is_none() {
                self.candidate = Some(name);
            }
        }
        self.rejoin_at = None;
    }

    /// The desk has no name yet: the first name prompt waits for the
    /// history replay, from `now`, for a moment at most.
    pub fn await_history(&mut self, now: Instant) {
        self.history_until = Some(now + HISTORY_GRACE);
    }

    /// Whether the first name prompt still waits for the history replay.
    pub fn awaiting_history(&self) -> bool {
        self.history_until.is_some()
    }

    /// The first lines came: true if the name prompt was waiting for them,
    /// and may come now.
    pub fn history_arrived(&mut self) -> bool {
        self.history_until.take().is_some()
    }

    /// True if the name prompt was waiting for a history that has not come
    /// by `now`, and may come now.
    pub fn history_wait_over(&mut self, now: Instant) -> bool {
        if self.history_until.is_none_or(|until| until > now) {
            return false;
        }
        self.history_until = None;
        true
    }

    /// The next moment something here is due: the name prompt, or a held
    /// name's next try.
    pub fn next_deadline(&self) -> Option<Instant> {
        [self.history_until, self.rejoin_at]
            .into_iter()
            .flatten()
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> JoinAs {
        ("alice".to_string(), None)
    }

    /// A desk that sent `/join alice` on its first connection.
    fn joining_alice() -> Identity {
        let mut identity = Identity::new(Some("alice".into()), None, None);
        let joining = identity.connection_opened(None).unwrap();
        identity.join_sent(joining);
        identity
    }

    /// A desk that was alice in red, lost the connection and sent `/join
    /// alice red` again on the next one.
    fn rejoining_alice() -> Identity {
        let mut identity = joining_alice();
        identity.welcomed("alice", Color::Red, "d1");
        identity.connection_lost();
        let joining = identity.connection_opened(None).unwrap();
        identity.join_sent(joining);
        identity
    }

    fn taken(identity: &mut Identity, signed_in: bool, at: Instant) -> Option<Refusal> {
        identity.refused(ErrorCode::NameTaken, "taken", signed_in, at)
    }

    #[test]
    fn the_name_from_the_flags_joins_on_connect() {
        let mut identity = Identity::new(Some("alice".into()), Some(Color::Red), None);
        assert_eq!(
            identity.connection_opened(None),
            Some(("alice".to_string(), Some(Color::Red)))
        );
    }

    #[test]
    fn without_a_name_nobody_joins_on_connect() {
        let mut identity = Identity::new(None, None, None);
        assert_eq!(identity.connection_opened(None), None);
    }

    #[test]
    fn a_returning_desk_rejoins_as_the_server_welcomed_it() {
        let mut identity = joining_alice();
        identity.welcomed("alice", Color::Red, "d1");
        identity.connection_lost();
        assert_eq!(
            identity.connection_opened(None),
            Some(("alice".to_string(), Some(Color::Red)))
        );
    }

    #[test]
    fn a_name_unanswered_when_the_connection_went_joins_on_the_next() {
        let mut identity = joining_alice();
        identity.connection_lost();
        assert_eq!(identity.connection_opened(None), Some(alice()));
    }

    #[test]
    fn a_desk_comes_back_with_its_secret_under_its_own_name_only() {
        let mut identity = Identity::new(None, None, None);
        identity.welcomed("alice", Color::Red, "d1");
        assert_eq!(identity.secret_for("Alice"), Some("d1"));
        assert_eq!(identity.secret_for("alice2"), None);
    }

    #[test]
    fn the_first_desk_secret_is_kept() {
        let mut identity = rejoining_alice();
        identity.welcomed("alice", Color::Red, "d2");
        assert_eq!(identity.desk_secret(), Some("d1"));
    }

    #[test]
    fn the_resume_asked_for_on_connect_is_taken_once_welcomed() {
        let mut identity = Identity::new(Some("alice".into()), None, None);
        let from = ("e1".to_string(), MessageId::from_sequence(3));
        identity.connection_opened(Some(from.clone()));
        assert_eq!(identity.take_resume(), Some(from));
        assert_eq!(identity.take_resume(), None);
    }

    #[test]
    fn a_colour_the_server_lacks_joins_again_without_one() {
        let mut identity = Identity::new(Some("alice".into()), Some(Color::Red), None);
        let joining = identity.connection_opened(None).unwrap();
        identity.join_sent(joining);
        assert_eq!(
            identity.refused(ErrorCode::BadColor, "no such colour", false, Instant::now()),
            Some(Refusal::JoinAgain(alice()))
        );
    }

    #[test]
    fn a_bad_name_says_why_and_asks_another() {
        let mut identity = joining_alice();
        assert_eq!(
            identity.refused(ErrorCode::BadName, "looks like bob", false, Instant::now()),
            Some(Refusal::AskAnother(render::name_refused(
                "alice",
                "looks like bob"
            )))
        );
    }

    #[test]
    fn a_new_name_taken_asks_another() {
        let mut identity = joining_alice();
        assert_eq!(
            taken(&mut identity, false, Instant::now()),
            Some(Refusal::AskAnother(render::name_taken("alice")))
        );
    }

    #[test]
    fn a_refusal_with_no_join_awaiting_is_nothing() {
        let mut identity = Identity::new(None, None, None);
        assert_eq!(taken(&mut identity, false, Instant::now()), None);
    }

    #[test]
    fn our_name_taken_on_return_is_held_and_said_once() {
        let mut identity = rejoining_alice();
        assert_eq!(
            taken(&mut identity, false, Instant::now()),
            Some(Refusal::NameHeld(Some(render::name_held("alice"))))
        );
    }

    #[test]
    fn our_name_taken_again_on_return_is_not_said_again() {
        let mut identity = rejoining_alice();
        let start = Instant::now();
        taken(&mut identity, false, start);
        identity.join_sent(("alice".to_string(), Some(Color::Red)));
        assert_eq!(
            taken(&mut identity, false, start + REJOIN_INTERVAL),
            Some(Refusal::NameHeld(None))
        );
    }

    #[test]
    fn a_held_name_is_tried_again_after_the_interval() {
        let mut identity = rejoining_alice();
        let start = Instant::now();
        taken(&mut identity, false, start);
        assert_eq!(
            identity.rejoin_due(start + REJOIN_INTERVAL, true),
            Some(("alice".to_string(), Some(Color::Red)))
        );
    }

    #[test]
    fn a_held_name_is_not_tried_before_the_interval() {
        let mut identity = rejoining_alice();
        let start = Instant::now();
        taken(&mut identity, false, start);
        assert_eq!(identity.rejoin_due(start, true), None);
    }

    #[test]
    fn a_held_name_is_not_tried_without_a_connection() {
        let mut identity = rejoining_alice();
        let start = Instant::now();
        taken(&mut identity, false, start);
        assert_eq!(identity.rejoin_due(start + REJOIN_INTERVAL, false), None);
        assert_eq!(identity.next_deadline(), None);
    }

    #[test]
    fn a_name_held_past_the_grace_is_someone_elses() {
        let mut identity = rejoining_alice();
        let start = Instant::now();
        taken(&mut identity, false, start);
        identity.join_sent(("alice".to_string(), Some(Color::Red)));
        assert_eq!(
            taken(&mut identity, false, start + NAME_HELD_GRACE),
            Some(Refusal::AskAnother(render::name_taken_while_away("alice")))
        );
        assert_eq!(identity.name(), None);
    }

    #[test]
    fn a_name_lost_gives_back_the_chosen_colour() {
        let mut identity = rejoining_alice();
        let start = Instant::now();
        taken(&mut identity, false, start);
        identity.join_sent(("alice".to_string(), Some(Color::Red)));
        taken(&mut identity, false, start + NAME_HELD_GRACE);
        assert_eq!(
            identity.name_chosen("alicia", true),
            Some(("alicia".to_string(), None))
        );
    }

    #[test]
    fn a_signed_in_desk_waits_for_its_held_name_past_the_grace() {
        let mut identity = rejoining_alice();
        let start = Instant::now();
        taken(&mut identity, true, start);
        identity.join_sent(("alice".to_string(), Some(Color::Red)));
        assert_eq!(
            taken(&mut identity, true, start + NAME_HELD_GRACE * 2),
            Some(Refusal::NameHeld(None))
        );
    }

    #[test]
    fn a_signed_in_desk_whose_name_is_taken_ends() {
        let mut identity = joining_alice();
        assert_eq!(
            taken(&mut identity, true, Instant::now()),
            Some(Refusal::Final(render::account_in_use("alice")))
        );
    }

    #[test]
    fn a_loss_stops_trying_a_held_name() {
        let mut identity = rejoining_alice();
        let start = Instant::now();
        taken(&mut identity, false, start);
        identity.connection_lost();
        assert_eq!(identity.next_deadline(), None);
    }

    #[test]
    fn a_name_typed_while_connected_joins_at_once() {
        let mut identity = Identity::new(None, Some(Color::Blue), None);
        identity.ask_name();
        assert_eq!(
            identity.name_chosen("bob", true),
            Some(("bob".to_string(), Some(Color::Blue)))
        );
        assert!(!identity.asking_name());
    }

    #[test]
    fn a_name_typed_while_disconnected_joins_on_the_next_connection() {
        let mut identity = Identity::new(None, None, None);
        assert_eq!(identity.name_chosen("bob", false), None);
        assert_eq!(
            identity.connection_opened(None),
            Some(("bob".to_string(), None))
        );
    }

    #[test]
    fn the_name_prompt_waits_for_the_history_a_moment() {
        let mut identity = Identity::new(None, None, None);
        let start = Instant::now();
        identity.await_history(start);
        assert!(!identity.history_wait_over(start));
        assert!(identity.history_wait_over(start + HISTORY_GRACE));
        assert!(!identity.awaiting_history());
    }

    #[test]
    fn the_name_prompt_comes_with_the_history() {
        let mut identity = Identity::new(None, None, None);
        identity.await_history(Instant::now());
        assert!(identity.history_arrived());
        assert!(!identity.history_arrived());
    }

    #[test]
    fn q_at_the_name_prompt_quits() {
        assert_eq!(read_name(" q "), NameTyped::Quit);
    }

    #[test]
    fn a_blank_name_is_asked_again() {
        assert_eq!(read_name("   "), NameTyped::Blank);
    }

    #[test]
    fn a_name_is_trimmed() {
        assert_eq!(read_name(" alice "), NameTyped::Name("alice"));
    }

    #[test]
    fn a_name_nobody_may_have_is_refused_with_why() {
        let NameTyped::Refused(why) = read_name("has space") else {
            panic!("not refused");
        };
        assert!(
            why.starts_with("[!] The name \"has space\" is not allowed: "),
            "{why}"
        );
    }
}
