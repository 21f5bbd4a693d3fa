//! Who is on the server, without any I/O: which connection holds which
//! name, colour and desk, the names being claimed across servers, and the
//! desks of the other servers sharing the store.
//!
//! Names are unique by [`name_key`], so "Alice", "alice" and a Cyrillic
//! "аlice" are one name. When several servers share the store
//! ([`Directory::share`]), a name is claimed across them before its
//! `WELCOME` ([`Effect::Claim`]; the connection's further lines wait
//! meanwhile), and JOIN and LEAVE come back from the store like messages.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chat_shared::message::{timestamp_now, Presence, WhoEntry};
use chat_shared::name::name_key;
use chat_shared::{Color, ErrorCode, ServerLine, MAX_WHO_NAMES};

use crate::desk::{self, DeskId};
use crate::effect::Effect;
use crate::frames::{self, encode, Frame};
use crate::ids::{Asker, ConnId};
use crate::room::MAIN;
use crate::store::{ClaimOutcome, NameClaim, RemoteMember};

/// A named connection on this server.
#[derive(Debug)]
pub struct Member {
    /// Its name, as it was taken.
    pub name: String,
    /// What makes two names the same name ([`name_key`]).
    pub key: String,
    /// Its colour.
    pub color: Color,
    /// Its desk: given at join, or proved with `/resume`.
    pub desk: DeskId,
    /// When it last said anything (or joined), for `/who`.
    pub last_said: Instant,
    /// Why it is leaving, if it said (its `LEAVE` tells it).
    pub leaving_because: Option<Box<str>>,
}

/// A name being claimed across servers, and what to say once it is granted.
#[derive(Debug)]
struct PendingJoin {
    /// The connection that asked (its serial tells it from a later one).
    asker: Asker,
    claim: NameClaim,
    /// The desk secret its `WELCOME` will give (the claim holds its hash).
    secret: String,
    /// The text of the `NAME<SEP>TEXT` line that asked for the name, and
    /// the desk's ID for it (`/tx`), if any.
    then_say: Option<(String, Option<String>)>,
}

/// A desk on another server, as `/who` lists it.
#[derive(Debug)]
struct Remote {
    name: String,
    /// Its colour, for ENTER and EXIT.
    color: Color,
    /// The server it is on: a LEAVE from another server's desk of the same
    /// name is not about it.
    server: String,
    /// When it last said anything (or joined), as seen here.
    last_said: Instant,
    /// Its desk, so direct messages can be written to it.
    desk: DeskId,
}

/// What a join came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Joined {
    /// The connection has the name.
    Now,
    /// The name is being claimed across servers.
    Pending,
    /// Refused; the reply is queued.
    Refused,
}

/// Why a connection could not be renamed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unrenamed {
    /// Someone else has the name.
    Taken,
    /// The connection has no name yet.
    Nameless,
    /// Other servers share the store: names are claimed through it.
    Shared,
    /// The connection logged in: its name is its account's.
    Account,
}

/// What a claim's answer came to.
#[derive(Debug, PartialEq, Eq)]
pub enum ClaimAnswered {
    /// Nobody waits for it (the connection left): a granted name must be
    /// given back.
    Stale,
    /// The connection has its name now; it asked to say this with it (and
    /// the desk's ID for it).
    Granted(Option<(String, Option<String>)>),
    /// Refused, or the store could not be asked; the reply is queued.
    Refused,
}

/// Everyone on this server, and the desks of the servers sharing its store.
#[derive(Debug)]
pub struct Directory {
    /// Connections that have a name, by connection.
    members: HashMap<ConnId, Member>,
    /// The connections holding (or claiming) each name, by [`name_key`].
    ids_by_name: HashMap<String, ConnId>,
    /// The members by desk, to deliver direct messages.
    ids_by_desk: HashMap<DeskId, ConnId>,
    /// The store's epoch, told to each desk as it joins.
    epoch: String,
    /// True when other servers share the store: names are claimed through
    /// it, and JOIN and LEAVE come back from it.
    shared: bool,
    /// Names being claimed, by connection.
    pending: HashMap<ConnId, PendingJoin>,
    /// Desks on the other servers, by [`name_key`].
    remote: HashMap<String, Remote>,
    /// Desks whose leaving everyone was told, and when: one coming back is
    /// news. Any other desk coming back with its secret (after a restart, a
    /// failover) is not.
    told_left: HashMap<DeskId, Instant>,
}

impl Directory {
    /// An empty directory, for a store named `epoch`.
    pub fn new(epoch: &str) -> Directory {
        Directory {
            members: HashMap::new(),
            ids_by_name: HashMap::new(),
            ids_by_desk: HashMap::new(),
            epoch: epoch.to_string(),
            shared: false,
            pending: HashMap::new(),
            remote: HashMap::new(),
            told_left: HashMap::new(),
        }
    }

    /// From now on other servers share the store: names are claimed
    /// through it, and JOIN and LEAVE come back from it.
    pub fn share(&mut self) {
        self.shared = true;
    }

    /// The store's epoch.
    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    /// Connection `id`'s name, colour and desk, once it has a name.
    pub fn member(&self, id: ConnId) -> Option<&Member> {
        self.members.get(&id)
    }

    /// Everyone named on this server, with their connection.
    pub fn members(&self) -> impl Iterator<Item = (ConnId, &Member)> {
        self.members.iter().map(|(id, member)| (*id, member))
    }

    /// Connection `id`'s name, once it has one.
    pub fn name_of(&self, id: ConnId) -> Option<&str> {
        self.members.get(&id).map(|member| member.name.as_str())
    }

    /// Everyone, here and on the other servers.
    pub fn online(&self) -> usize {
        self.members.len() + self.remote.len()
    }

    /// True while connection `id` waits for a name it claimed.
    pub fn is_claiming(&self, id: ConnId) -> bool {
        self.pending.contains_key(&id)
    }

    /// The connection here holding desk `desk`.
    pub fn conn_of_desk(&self, desk: DeskId) -> Option<ConnId> {
        self.ids_by_desk.get(&desk).copied()
    }

    /// The desk of the member here called `name` (any spelling of it).
    pub fn desk_named(&self, name: &str) -> Option<DeskId> {
        let id = self.ids_by_name.get(&name_key(name))?;
        self.members.get(id).map(|member| member.desk)
    }

    /// The connection here holding the name whose key is `key`.
    pub fn conn_of_name(&self, key: &str) -> Option<ConnId> {
        self.ids_by_name
            .get(key)
            .copied()
            .filter(|id| self.members.contains_key(id))
    }

    /// The person called `name` (any spelling of the name), here or on
    /// another server: their name as they took it, and their desk.
    pub fn find(&self, name: &str) -> Option<(&str, DeskId)> {
        let key = name_key(name);
        let here = self
            .ids_by_name
            .get(&key)
            .and_then(|id| self.members.get(id))
            .map(|m| (m.name.as_str(), m.desk));
        here.or_else(|| self.remote.get(&key).map(|r| (r.name.as_str(), r.desk)))
    }

    /// Connection `id` said something now (for `/who`).
    pub fn touch(&mut self, id: ConnId) {
        if let Some(member) = self.members.get_mut(&id) {
            member.last_said = Instant::now();
        }
    }

    /// Someone on another server said something now (for `/who`).
    pub fn touch_remote(&mut self, name: &str) {
        if let Some(remote) = self.remote.get_mut(&name_key(name)) {
            remote.last_said = Instant::now();
        }
    }

    /// Gives connection `from` the name, or checks that it already is its
    /// name. A connection logged in to an account (`account`) may take that
    /// name only, spelt as the account was added. A desk coming back names
    /// its secret (`desk`) and stays the same desk: its direct messages find
    /// it, and in a shared room its claim may take the name back from the
    /// server that lost it. On refusal, the reply is already in `effects`.
    pub fn join(
        &mut self,
        from: Asker,
        request: JoinRequest<'_>,
        effects: &mut Vec<Effect>,
    ) -> Joined {
        let JoinRequest {
            name,
            color,
            desk,
            account,
        } = request;
        let id = from.conn;
        if let Some(member) = self.members.get(&id) {
            // Every message of a named connection comes this way: the exact
            // name needs no key.
            if member.name == name || member.key == name_key(name) {
                return Joined::Now;
            }
            let detail = format!("this connection is already {}", member.name);
            effects.push(Effect::Send(
                id,
                frames::error(ErrorCode::WrongName, &detail),
            ));
            return Joined::Refused;
        }
        let key = name_key(name);
        if let Some(account) = account {
            if name_key(account) != key {
                let detail = format!("this connection logged in as {account}");
                effects.push(Effect::Send(
                    id,
                    frames::error(ErrorCode::WrongName, &detail),
                ));
                return Joined::Refused;
            }
        }
        let name = account.unwrap_or(name);
        if self.ids_by_name.contains_key(&key) {
            let detail = format!("the name {name} is taken; choose another");
            effects.push(Effect::Send(
                id,
                frames::error(ErrorCode::NameTaken, &detail),
            ));
            return Joined::Refused;
        }
        let color = color.unwrap_or_else(|| Color::for_name(name));
        let secret = desk.map_or_else(desk::new_secret, str::to_string);
        if self.shared {
            // Held for this connection while the other servers are asked.
            self.ids_by_name.insert(key.clone(), id);
            let claim = NameClaim {
                name: name.to_string(),
                key,
                color,
                desk: DeskId::of(&secret),
            };
            effects.push(Effect::Claim {
                asker: from,
                claim: claim.clone(),
                returning: desk.is_some(),
            });
            self.pending.insert(
                id,
                PendingJoin {
                    asker: from,
                    claim,
                    secret,
                    then_say: None,
                },
            );
            return Joined::Pending;
        }
        let arrival = Arrival {
            name: name.to_string(),
            key,
            color,
            secret,
            returning: desk.is_some(),
        };
        self.admit(id, arrival, effects);
        Joined::Now
    }

    /// Keeps `text` (tagged `tx` by the desk, if it was) to be said once
    /// connection `id`'s claimed name is granted.
    pub fn say_when_granted(&mut self, id: ConnId, text: &str, tx: Option<&str>) {
        if let Some(pending) = self.pending.get_mut(&id) {
            pending.then_say = Some((text.to_string(), tx.map(str::to_string)));
        }
    }

    /// The store's answer to `from`'s claim: its `WELCOME`, a refusal, or
    /// (the store unreachable) a `BYE` after which the connection is closed.
    pub fn claim_answered(
        &mut self,
        from: Asker,
        outcome: &ClaimOutcome,
        effects: &mut Vec<Effect>,
    ) -> ClaimAnswered {
        if self.pending.get(&from.conn).map(|p| p.asker) != Some(from) {
            return ClaimAnswered::Stale;
        }
        let Some(pending) = self.pending.remove(&from.conn) else {
            return ClaimAnswered::Stale;
        };
        let claim = pending.claim;
        let id = from.conn;
        match outcome {
            ClaimOutcome::Granted => {
                let arrival = Arrival {
                    name: claim.name,
                    key: claim.key,
                    color: claim.color,
                    secret: pending.secret,
                    // The JOIN (or the return) comes back from the store.
                    returning: false,
                };
                self.admit(id, arrival, effects);
                ClaimAnswered::Granted(pending.then_say)
            }
            ClaimOutcome::Taken => {
                self.ids_by_name.remove(&claim.key);
                let detail = format!("the name {} is taken; choose another", claim.name);
                effects.push(Effect::Send(
                    id,
                    frames::error(ErrorCode::NameTaken, &detail),
                ));
                ClaimAnswered::Refused
            }
            ClaimOutcome::Unavailable(why) => {
                // A goodbye, not an error: a desk reconnects after a BYE, by
                // itself, until the link is back.
                self.ids_by_name.remove(&claim.key);
                let reason = format!("your name could not be claimed ({why}); try again shortly");
                effects.push(Effect::Send(id, frames::bye(&reason)));
                ClaimAnswered::Refused
            }
        }
    }

    /// Gives connection `id` the name: its desk secret in a `WELCOME`, and
    /// a JOIN for everyone (from the store, when the room is shared), unless
    /// it is a desk coming back whose leaving nobody was told.
    fn admit(&mut self, id: ConnId, arrival: Arrival, effects: &mut Vec<Effect>) {
        let Arrival {
            name,
            key,
            color,
            secret,
            returning,
        } = arrival;
        let desk = DeskId::of(&secret);
        self.ids_by_name.insert(key.clone(), id);
        self.ids_by_desk.insert(desk, id);
        let welcome = ServerLine::Welcome {
            name: &name,
            color,
            online: self.online() + 1,
            epoch: &self.epoch,
            desk: &secret,
        };
        effects.push(Effect::Send(id, encode(&welcome)));
        if !self.shared && self.is_news(desk, returning) {
            let presence = Presence {
                time: &timestamp_now(),
                name: &name,
                color,
                reason: "",
            };
            effects.push(Effect::Broadcast(MAIN, encode(&ServerLine::Join(presence))));
        }
        self.members.insert(
            id,
            Member {
                name,
                key,
                color,
                desk,
                last_said: Instant::now(),
                leaving_because: None,
            },
        );
    }

    /// Forgets connection `id`; if it had a name, everyone hears it left
    /// (on a shared store, once the store brings its `LEAVE` back). Its
    /// `LEAVE` is returned, for those who do not hear `#main`.
    pub fn leave(&mut self, id: ConnId, effects: &mut Vec<Effect>) -> Option<Frame> {
        if let Some(pending) = self.pending.remove(&id) {
            self.ids_by_name.remove(&pending.claim.key);
        }
        let member = self.members.remove(&id)?;
        self.ids_by_name.remove(&member.key);
        self.ids_by_desk.remove(&member.desk);
        let presence = Presence {
            time: &timestamp_now(),
            name: &member.name,
            color: member.color,
            reason: member.leaving_because.as_deref().unwrap_or(""),
        };
        let leave = encode(&ServerLine::Leave(presence));
        if self.shared {
            effects.push(Effect::Release(NameClaim {
                name: member.name,
                key: member.key,
                color: member.color,
                desk: member.desk,
            }));
            return Some(leave);
        }
        effects.push(Effect::Broadcast(MAIN, leave.clone()));
        self.told_leaving(member.desk);
        Some(leave)
    }

    /// Connection `id` is called `name` from now on (an IRC client's
    /// `NICK`; a change of case only is one too). Answers its old name.
    /// Only on a server whose store is not shared: a name would have to be
    /// claimed across the servers.
    pub fn rename(&mut self, id: ConnId, name: &str) -> Result<String, Unrenamed> {
        if self.shared {
            return Err(Unrenamed::Shared);
        }
        let key = name_key(name);
        let member = self.members.get_mut(&id).ok_or(Unrenamed::Nameless)?;
        if key != member.key && self.ids_by_name.contains_key(&key) {
            return Err(Unrenamed::Taken);
        }
        self.ids_by_name.remove(&member.key);
        self.ids_by_name.insert(key.clone(), id);
        member.key = key;
        Ok(std::mem::replace(&mut member.name, name.to_string()))
    }

    /// Connection `id` is leaving for `reason`.
    pub fn leaving_because(&mut self, id: ConnId, reason: &str) {
        if let Some(member) = self.members.get_mut(&id) {
            member.leaving_because = Some(reason.into());
        }
    }

    /// Everyone was told that `desk` left.
    pub fn told_leaving(&mut self, desk: DeskId) {
        let now = Instant::now();
        if self.told_left.len() >= MAX_TOLD_LEFT {
            self.told_left
                .retain(|_, at| now.duration_since(*at) < TOLD_LEFT_FOR);
        }
        if self.told_left.len() < MAX_TOLD_LEFT {
            self.told_left.insert(desk, now);
        }
    }

    /// Whether `desk` arriving is news: a new desk is; one coming back
    /// (`returning`) only if everyone was told it left.
    pub fn is_news(&mut self, desk: DeskId, returning: bool) -> bool {
        let told = self
            .told_left
            .remove(&desk)
            .is_some_and(|at| at.elapsed() < TOLD_LEFT_FOR);
        !returning || told
    }

    /// Connection `id` proves it is the desk holding `secret` (after a
    /// reconnect): from now on it is that desk, and gets its direct
    /// messages. Unnamed connections cannot be a desk yet.
    pub fn prove_desk(&mut self, id: ConnId, secret: &str, effects: &mut Vec<Effect>) -> DeskId {
        let desk = DeskId::of(secret);
        if let Some(member) = self.members.get_mut(&id) {
            self.ids_by_desk.remove(&member.desk);
            member.desk = desk;
            self.ids_by_desk.insert(desk, id);
            if self.shared {
                effects.push(Effect::Redesk(NameClaim {
                    name: member.name.clone(),
                    key: member.key.clone(),
                    color: member.color,
                    desk,
                }));
            }
        }
        desk
    }

    /// The `WHO` line: everyone here and on the other servers, by name,
    /// with how long each has been idle.
    pub fn who(&self) -> Frame {
        let now = Instant::now();
        let mut people: Vec<WhoEntry<'_>> = self
            .members
            .values()
            .map(|m| (&m.name, m.last_said))
            .chain(self.remote.values().map(|r| (&r.name, r.last_said)))
            .map(|(name, last_said)| WhoEntry {
                name,
                idle_secs: now.duration_since(last_said).as_secs(),
            })
            .collect();
        people.sort_unstable_by_key(|person| person.name.to_lowercase());
        people.truncate(MAX_WHO_NAMES);
        encode(&ServerLine::Who {
            count: self.online(),
            people,
        })
    }

    /// The desks on the other servers: name, desk, when each last said
    /// anything.
    pub fn remote_people(&self) -> impl Iterator<Item = (&str, DeskId, Instant)> {
        self.remote
            .values()
            .map(|r| (r.name.as_str(), r.desk, r.last_said))
    }

    /// Who is on the other servers, as read at start.
    pub fn set_remote(&mut self, members: Vec<RemoteMember>) {
        for member in members {
            self.remote_joined(member);
        }
    }

    /// A desk joined on another server.
    pub fn remote_joined(&mut self, member: RemoteMember) {
        self.remote.insert(
            name_key(&member.name),
            Remote {
                name: member.name,
                color: member.color,
                server: member.server,
                last_said: Instant::now(),
                desk: member.desk,
            },
        );
    }

    /// The desk of `name`, on server `server`, not this one, is now `desk`.
    pub fn remote_desk(&mut self, name: &str, server: &str, desk: DeskId) {
        if let Some(remote) = self.remote.get_mut(&name_key(name)) {
            if remote.server == server {
                remote.desk = desk;
            }
        }
    }

    /// The name and colour of the desk `desk` on another server.
    pub fn remote_with_desk(&self, desk: DeskId) -> Option<(&str, Color)> {
        self.remote
            .values()
            .find(|remote| remote.desk == desk)
            .map(|remote| (remote.name.as_str(), remote.color))
    }

    /// The name and colour of the desk on another server that holds the
    /// name whose key is `key`.
    pub fn remote_with_name(&self, key: &str) -> Option<(&str, Color)> {
        self.remote
            .get(key)
            .map(|remote| (remote.name.as_str(), remote.color))
    }

    /// A desk of server `server`, not this one, left.
    pub fn remote_left(&mut self, name: &str, server: &str) {
        let key = name_key(name);
        if self.remote.get(&key).is_some_and(|r| r.server == server) {
            self.remote.remove(&key);
        }
    }
}

/// How long a told leaving makes the desk's return news: a desk away
/// longer is greeted anyway, since that is news again.
const TOLD_LEFT_FOR: Duration = Duration::from_secs(60 * 60);

/// Most told leavings remembered: older ones are forgotten first.
const MAX_TOLD_LEFT: usize = 10_000;

/// A connection about to have its name.
struct Arrival {
    name: String,
    key: String,
    color: Color,
    /// The desk secret its `WELCOME` gives.
    secret: String,
    /// Whether it came back with its secret.
    returning: bool,
}

/// What a connection asks for when it takes a name.
#[derive(Debug, Clone, Copy)]
pub struct JoinRequest<'a> {
    /// The name, as typed.
    pub name: &'a str,
    /// The colour asked for; the name's own colour if `None`.
    pub color: Option<Color>,
    /// The secret of the desk coming back, if it is one.
    pub desk: Option<&'a str>,
    /// The account the connection logged in to, if it did.
    pub account: Option<&'a str>,
}
