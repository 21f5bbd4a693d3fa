//! What each mode asks of the clients: which indices send, which never read,
//! whether connections churn, whether a final broadcast proves liveness.
//!
//! The phases themselves are driven by `coordinator.rs`; the per-socket work
//! is done in `worker.rs`. This module only turns a [`Config`] into a
//! [`Plan`].

use std::time::Duration;

use crate::config::{Config, Mode};
use crate::conn::Dialect;

/// What one client index does for the whole run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Reads everything and sends at the configured rate in the measured phase.
    Sender,
    /// Reads everything; never sends (except client 0's probes and the final
    /// broadcast).
    Reader,
    /// Never reads after connecting (slow mode); checked for a server drop
    /// at the end.
    Slow,
}

/// The mode, as behaviour.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Total client indices (concurrent connections).
    pub clients: usize,
    /// Indices `0..senders` are senders.
    pub senders: usize,
    /// Indices `clients - slow..clients` never read. Client 0 is never slow:
    /// it sends the probes.
    pub slow: usize,
    /// New connections per second, if paced.
    pub connect_rate: Option<f64>,
    /// In connect mode the connect storm is what is measured, and `-d` bounds it.
    pub connect_storm: bool,
    /// Length of the measured phase; `None` when there is none (connect).
    pub measure: Option<Duration>,
    /// Mean connection lifetime when connections churn one by one.
    pub churn_lifetime: Option<Duration>,
    /// Churn in rounds instead: this many times, every client connects, each
    /// sender speaks once as the measured phase begins, and all vanish.
    pub rounds: Option<u32>,
    /// After the measured phase, client 0 sends one measured message that
    /// every reader should get (`hold.alive`).
    pub final_broadcast: bool,
    /// Messages per second per sender.
    pub rate_per_sender: f64,
    /// TEXT bytes per message.
    pub payload_bytes: usize,
    /// SO_RCVBUF for slow clients.
    pub slow_rcvbuf: Option<usize>,
    /// How many 127.0.0.x source addresses to spread over.
    pub source_ips: usize,
    /// Every client speaks TLS.
    pub tls: bool,
    /// The fraction of the clients that are IRC desks; 0: none.
    pub irc_share: f64,
    /// Every client is a browser desk.
    pub web: bool,
    /// `--rooms N`: clients spread over N rooms of the run; `None`: all in
    /// `#main`.
    pub rooms: Option<usize>,
    /// Every client takes its name on connecting (`--named`, `--rooms`);
    /// an IRC desk registers its nick whatever this says.
    pub named: bool,
    /// Names are taken as first arrivals, announced (`--newcomers`).
    pub newcomers: bool,
}

impl Plan {
    /// Derives the plan for `config`'s mode.
    pub fn new(config: &Config) -> Plan {
        let mode = config.mode;
        Plan {
            clients: config.clients,
            senders: config.senders,
            slow: config.slow_clients,
            connect_rate: config.connect_rate,
            connect_storm: mode == Mode::Connect,
            measure: (mode != Mode::Connect).then_some(config.duration),
            churn_lifetime: (mode == Mode::Churn && config.rounds.is_none())
                .then_some(config.churn_lifetime),
            rounds: config.rounds,
            final_broadcast: matches!(mode, Mode::Hold | Mode::Connect),
            rate_per_sender: config.rate_per_sender,
            payload_bytes: config.payload_bytes,
            slow_rcvbuf: config.slow_rcvbuf,
            source_ips: config.source_ips,
            tls: config.tls,
            irc_share: config.irc_share,
            web: config.web,
            rooms: config.rooms,
            named: config.named,
            newcomers: config.newcomers,
        }
    }

    /// The dialect of client `index`. IRC desks are spread evenly over the
    /// indices (with a share of 0.5, the odd ones), so that senders, readers
    /// and the server's connections are mixed alike.
    pub fn dialect(&self, index: usize) -> Dialect {
        let irc_before = |i: usize| (i as f64 * self.irc_share).floor();
        if self.web {
            Dialect::Web
        } else if irc_before(index + 1) > irc_before(index) {
            Dialect::Irc
        } else {
            Dialect::Ours
        }
    }

    /// How many rooms the clients are spread over; `#main` alone is one.
    pub fn room_count(&self) -> usize {
        self.rooms.unwrap_or(1)
    }

    /// The room client `index` is in, `0..room_count()`: round robin, so
    /// the senders (the first indices) are spread over the rooms too.
    pub fn room_of(&self, index: usize) -> usize {
        index % self.room_count()
    }

    /// Whether client `index` is the first of its room: the one that sends
    /// its room's warm-up probes and, in hold, its final broadcast (without
    /// rooms, client 0).
    pub fn speaks_first(&self, index: usize) -> bool {
        index < self.room_count()
    }

    /// The role of client `index`.
    pub fn role(&self, index: usize) -> Role {
        if index >= self.clients - self.slow {
            Role::Slow
        } else if index < self.senders {
            Role::Sender
        } else {
            Role::Reader
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_args;

    #[test]
    fn slow_clients_are_the_last_indices() {
        let plan =
            Plan::new(&parse_args(&["slow", "-n", "10", "--slow", "2", "--senders", "3"]).unwrap());
        assert_eq!(plan.role(0), Role::Sender);
        assert_eq!(plan.role(2), Role::Sender);
        assert_eq!(plan.role(3), Role::Reader);
        assert_eq!(plan.role(7), Role::Reader);
        assert_eq!(plan.role(8), Role::Slow);
        assert_eq!(plan.role(9), Role::Slow);
    }

    #[test]
    fn irc_desks_are_spread_over_the_indices() {
        let dialects = |args: &[&str]| {
            let plan = Plan::new(&parse_args(args).unwrap());
            (0..6).map(|i| plan.dialect(i)).collect::<Vec<_>>()
        };
        let (ours, irc) = (Dialect::Ours, Dialect::Irc);
        assert_eq!(dialects(&["fanout"]), [ours; 6]);
        assert_eq!(dialects(&["fanout", "--irc"]), [irc; 6]);
        assert_eq!(dialects(&["fanout", "--ws"]), [Dialect::Web; 6]);
        assert_eq!(
            dialects(&["fanout", "--irc-share", "0.5"]),
            [ours, irc, ours, irc, ours, irc]
        );
        let third = dialects(&["fanout", "--irc-share", "0.34"]);
        assert_eq!(third.iter().filter(|d| **d == irc).count(), 2);
    }

    #[test]
    fn hold_has_no_senders_and_a_final_broadcast() {
        let plan = Plan::new(&parse_args(&["hold", "-n", "10"]).unwrap());
        assert_eq!(plan.role(0), Role::Reader);
        assert!(plan.final_broadcast);
        assert!(plan.measure.is_some());
    }

    #[test]
    fn churn_in_rounds_has_no_lifetime() {
        let plan = Plan::new(&parse_args(&["churn", "-n", "10", "--rounds", "3"]).unwrap());
        assert_eq!(plan.rounds, Some(3));
        assert_eq!(plan.churn_lifetime, None);
        assert_eq!(plan.role(9), Role::Sender);
        let by_lifetime = Plan::new(&parse_args(&["churn", "-n", "10"]).unwrap());
        assert!(by_lifetime.churn_lifetime.is_some());
        assert_eq!(by_lifetime.rounds, None);
    }

    #[test]
    fn rooms_take_clients_and_senders_round_robin() {
        let plan = Plan::new(
            &parse_args(&["fanout", "-n", "20", "--rooms", "4", "--senders", "2"]).unwrap(),
        );
        assert_eq!(plan.room_count(), 4);
        let rooms: Vec<usize> = (0..8).map(|i| plan.room_of(i)).collect();
        assert_eq!(rooms, [0, 1, 2, 3, 0, 1, 2, 3]);
        assert_eq!(plan.room_of(19), 3);
        assert!((0..4).all(|i| plan.speaks_first(i)));
        assert!(!plan.speaks_first(4));
        let main = Plan::new(&parse_args(&["fanout", "-n", "20"]).unwrap());
        assert_eq!(main.room_count(), 1);
        assert_eq!(main.room_of(17), 0);
        assert!(main.speaks_first(0) && !main.speaks_first(1));
    }

    #[test]
    fn connect_mode_is_paced_and_has_no_measured_phase() {
        let plan = Plan::new(&parse_args(&["connect", "-n", "10"]).unwrap());
        assert!(plan.connect_storm);
        assert_eq!(plan.connect_rate, Some(1000.0));
        assert_eq!(plan.measure, None);
    }
}
