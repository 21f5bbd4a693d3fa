//! What each mode asks of the clients: which indices send, which never read,
//! whether connections churn, whether a final broadcast proves liveness.
//!
//! The phases themselves are driven by `coordinator.rs`; the per-socket work
//! is done in `worker.rs`. This module only turns a [`Config`] into a
//! [`Plan`].

use std::time::Duration;

use crate::config::{Config, Mode};

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
        }
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
    fn connect_mode_is_paced_and_has_no_measured_phase() {
        let plan = Plan::new(&parse_args(&["connect", "-n", "10"]).unwrap());
        assert!(plan.connect_storm);
        assert_eq!(plan.connect_rate, Some(1000.0));
        assert_eq!(plan.measure, None);
    }
}
