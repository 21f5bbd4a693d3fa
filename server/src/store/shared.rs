//! What a store shared by several servers adds: names claimed across them,
//! who is on the others, and their JOINs and LEAVEs ([`SharedRoom`]).

use chat_shared::Color;

use crate::desk::DeskId;
use crate::ids::Asker;

/// A name a desk wants, to be claimed across servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameClaim {
    /// As the desk wrote it.
    pub name: String,
    /// What makes two names the same ([`chat_shared::name::name_key`]).
    pub key: String,
    /// The colour it will have.
    pub color: Color,
    /// The desk holding it, so desks on other servers can write to it.
    pub desk: DeskId,
}

/// What came of a [`NameClaim`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// The name is this desk's in the whole room.
    Granted,
    /// A desk on some server has it.
    Taken,
    /// The shared log could not be asked: why.
    Unavailable(String),
}

/// What a [`PresenceNote`] says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresenceKind {
    /// Someone joined.
    Join,
    /// A desk came back with its secret (after a restart, a failover, a
    /// lost link): news only if its leaving was told.
    Return,
    /// Someone left.
    Leave,
    /// Someone's desk changed: it reconnected and proved it is an earlier
    /// desk (`/resume` with its secret), whose direct messages are its.
    Desk,
}

/// A JOIN, a LEAVE or a change of desk, read from the shared log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceNote {
    /// What happened.
    pub kind: PresenceKind,
    /// When (wire format).
    pub time: String,
    /// Who.
    pub name: String,
    /// Their colour.
    pub color: Color,
    /// The server their desk is on.
    pub server: String,
    /// Their desk.
    pub desk: DeskId,
}

/// A desk on another server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteMember {
    /// Its name.
    pub name: String,
    /// Its colour.
    pub color: Color,
    /// The server it is on.
    pub server: String,
    /// Its desk, for direct messages.
    pub desk: DeskId,
}

/// What a log shared by several servers does beyond storing messages.
pub trait SharedRoom {
    /// This server's name among the others.
    fn server_id(&self) -> &str;

    /// Asks for `claim.name` across servers, for a desk new or coming back
    /// (`returning`); answered with [`super::Completion::Claimed`], whose JOIN
    /// (or return) follows as a [`super::Completion::Presence`]. Hands the claim back
    /// if the log is too far behind to take it.
    fn claim(&mut self, asker: Asker, claim: NameClaim, returning: bool) -> Result<(), NameClaim>;

    /// Gives back a name this server holds, and tells everyone its desk left.
    fn release(&mut self, claim: NameClaim);

    /// Tells the other servers that the desk holding `claim.name` is now
    /// `claim.desk`.
    fn redesk(&mut self, claim: NameClaim);
}
