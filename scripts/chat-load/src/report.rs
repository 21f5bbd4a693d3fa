//! The run's results: the [`Report`] that `--json` prints as one object, and
//! the human summary. `chat-compare` reads the JSON back into these same
//! types, so renaming or retyping a field it uses breaks its build rather
//! than its report.
//!
//! Fields that do not apply to a mode are `None`, printed as `null`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::stats::{clock_ticks_per_sec, LatencySummary, WatchSummary};

/// Everything one run measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// `hold`, `fanout`, `connect`, `churn`, `slow`, `restart`,
    /// `search-storm` or `resume-bomb`.
    pub mode: String,
    /// The server address as given (several, comma-separated, with `--addr A,B`).
    pub addr: String,
    /// Every client spoke TLS (`--tls`; an addition to the original schema).
    #[serde(default)]
    pub tls: bool,
    /// The fraction of the clients that were IRC desks (`--irc`: 1,
    /// `--irc-share F`: F; an addition to the original schema).
    #[serde(default)]
    pub irc_share: f64,
    /// Every client was a browser desk (`--ws`; an addition).
    #[serde(default)]
    pub ws: bool,
    /// Our desks and browser desks took their names on connecting
    /// (`--named` or `--rooms`; an addition).
    #[serde(default)]
    pub named: bool,
    /// With `named`: the names were taken as first arrivals, announced
    /// (`--newcomers`; an addition, left out when false).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub newcomers: bool,
    /// With `--tls`: connect() to the end of the TLS handshake, microseconds,
    /// over every connection that finished it; `null` otherwise.
    #[serde(default)]
    pub tls_handshake_us: Option<LatencySummary>,
    /// Whether every receiver saw the room's messages in one order (an
    /// addition to the original schema); `null` in restart mode, which
    /// checks the order against the log instead.
    #[serde(default)]
    pub order: Option<OrderReport>,
    /// Connections asked for (churn: at once; in rounds: per round).
    pub clients: usize,
    /// Of those, how many connected (the initial connections; churn
    /// replacements are in `churn.connections_opened`; in rounds, the fewest
    /// of any one round, each round's count being in `churn.rounds`).
    pub connected: usize,
    /// Failed connects, replacements included.
    pub connect_failures: usize,
    /// Failed connects by errno name.
    pub connect_errors: BTreeMap<String, u64>,
    /// Clients that send; `null` for hold and connect.
    pub senders: Option<usize>,
    /// Messages per second per sender; `null` for hold, connect and churn in
    /// rounds (one message per sender per round).
    pub rate_per_sender: Option<f64>,
    /// TEXT bytes per message.
    pub payload_bytes: usize,
    /// The measured phase's configured length (connect: its upper bound).
    pub duration_secs: f64,
    /// Measured messages sent (hold and connect: the one final broadcast).
    pub messages_sent: u64,
    /// Deliveries owed: per message, the reading clients registered when it
    /// was sent (slow clients excluded).
    pub deliveries_expected: u64,
    /// Deliveries that arrived, counted within each client's window.
    pub deliveries_received: u64,
    /// received / expected; `null` when nothing was expected.
    pub delivered_fraction: Option<f64>,
    /// Deliveries per second, from the measured phase's start to the last
    /// delivery.
    pub deliveries_per_sec: f64,
    /// End-to-end latency of deliveries, microseconds; `null` if none.
    pub latency_us: Option<LatencySummary>,
    /// Hold and connect modes.
    pub hold: Option<HoldReport>,
    /// Slow mode.
    pub slow: Option<SlowReport>,
    /// Churn mode (an addition to the original schema).
    pub churn: Option<ChurnReport>,
    /// Restart mode (an addition to the original schema). In restart mode
    /// the deliveries are counted by message ID against the log, and
    /// `disconnected_early` counts the clients that did not come back.
    pub restart: Option<RestartReport>,
    /// With `--rooms` (an addition to the original schema): the rooms, and
    /// whether each client got its room's messages only.
    #[serde(default)]
    pub rooms: Option<RoomsReport>,
    /// Storm mode (an addition to the original schema).
    #[serde(default)]
    pub storm: Option<StormReport>,
    /// Search-storm mode (an addition to the original schema). The pair
    /// that talks through the storm is in the top-level fields: alice's
    /// lines in `messages_sent` and `deliveries_expected`, those bob got in
    /// `deliveries_received`, their latency in `latency_us`.
    #[serde(default)]
    pub search_storm: Option<SearchStormReport>,
    /// Resume-bomb mode (an addition to the original schema).
    #[serde(default)]
    pub resume_bomb: Option<BurstReport>,
    /// Handshake-stall mode (an addition to the original schema).
    #[serde(default)]
    pub handshake_stall: Option<BurstReport>,
    /// Connect mode: connect() to established, microseconds.
    pub connect_latency_us: Option<LatencySummary>,
    /// With `--server-pid` (the first one given).
    pub server: Option<ServerReport>,
    /// With several `--server-pid`s, every one, in order (an addition to
    /// the original schema); empty otherwise.
    #[serde(default)]
    pub servers: Vec<ServerReport>,
    /// With `--redis-pid`: the Redis server, sampled like the chat servers
    /// (an addition to the original schema).
    #[serde(default)]
    pub redis: Option<ServerReport>,
    /// Reading clients that the server closed, or whose socket failed, before
    /// the end.
    pub disconnected_early: u64,
    /// Whole run, setup to summary.
    pub wall_secs: f64,
    /// Things that went wrong or deserve a look, with counts.
    pub errors: Vec<String>,
}

/// The order check: every measured message must reach every receiver under
/// the same ID (the first receiver's is the reference), and each receiver's
/// IDs must increase. Both together mean every receiver saw one order, the
/// room's, whichever server it was on; the pass is `receivers_differing == 0`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderReport {
    /// Servers the clients were spread over (`--addr A,B,...`).
    pub servers: usize,
    /// Connections that received at least one measured message.
    pub receivers: u64,
    /// Of those, how many saw an order other than the reference.
    pub receivers_differing: u64,
    /// Deliveries under another ID than the reference's.
    pub id_mismatches: u64,
    /// Deliveries whose ID was not above the previous one's at that receiver.
    pub ids_not_increasing: u64,
    /// Deliveries of messages past the reference's end, not checked.
    pub unchecked: u64,
}

/// `--rooms`: clients spread over rooms of the run. Each room's messages are
/// counted and their order checked apart (`order` covers every room); the
/// pass is `in_room` equal to `connected` and `foreign_deliveries == 0`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomsReport {
    /// Rooms the clients were spread over.
    pub rooms: usize,
    /// Clients that entered their room (`INROOM`).
    pub in_room: u64,
    /// Messages of this run that reached a client outside their room:
    /// another room's, or `#main`'s. Anything but 0 is a leak.
    pub foreign_deliveries: u64,
}

/// `hold.alive`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HoldReport {
    /// Clients that received the final broadcast.
    pub alive: u64,
}

/// The slow-reader result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SlowReport {
    /// Clients that never read.
    pub slow_clients: u64,
    /// Of those, how many the server had dropped by the end.
    pub slow_dropped: u64,
    /// Bytes the slow clients found waiting when read after the run (an
    /// addition to the original schema): what kernel buffers and the server
    /// held for them. A drop needs more than this plus `--max-queue`.
    pub bytes_read_after_run: u64,
}

/// The churn result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChurnReport {
    /// Successful connects over the run, replacements included.
    pub connections_opened: u64,
    /// Mean lifetime of one connection, seconds; `null` in rounds.
    pub lifetime_secs: Option<f64>,
    /// Rounds asked for (`--rounds`); `null` when churning by lifetime.
    pub rounds_asked: Option<u32>,
    /// One entry per round completed, in order; empty when churning by
    /// lifetime. Fewer than asked when `-d` or the run's deadline ended it.
    pub rounds: Vec<RoundReport>,
}

/// One churn round, after all its clients had gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundReport {
    /// From 1.
    pub round: u32,
    /// Clients of this round that connected.
    pub connected: usize,
    /// The server's VmRSS once the round's clients had closed, KiB; `null`
    /// without `--server-pid` or when /proc could not be read.
    pub rss_kb: Option<u64>,
}

/// The restart result: the server got SIGKILL mid-run and started again on
/// the same port and log; the clients reconnected and resumed. The truth is
/// the run's messages in the log, read back with `/resume EPOCH 0` after
/// sending stopped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestartReport {
    /// Into the measured phase, when the server got SIGKILL.
    pub kill_at_secs: f64,
    /// How long it stayed down before it started again.
    pub restart_after_secs: f64,
    /// The run's messages the log held at the end. Fewer than sent: the
    /// ones the server had not stored when it was killed, and those due
    /// while it was down, never existed for anyone.
    pub log_messages: u64,
    /// Owed (in the log, after the client's first message) and never counted.
    pub lost: u64,
    /// Arrivals of a message the client had already counted.
    pub duplicated: u64,
    /// Arrivals after a message with a higher ID.
    pub out_of_order: u64,
    /// Deliveries of messages the log does not hold, though older than its
    /// newest: delivered, then lost by the log.
    pub unlogged: u64,
    /// Reconnections answered with `RESUME`.
    pub resumed: u64,
    /// Deliveries that came in a resume's replay (`HIST`), not live.
    pub replayed: u64,
    /// Clients that had not resumed by the end.
    pub not_back: u64,
    /// Connection attempts while coming back, refused ones included.
    pub reconnect_attempts: u64,
    /// Messages `RESUME` said were missed but too many to replay, summed.
    pub replay_skipped: u64,
    /// Sends that fell due while the sender had no connection; skipped.
    pub sends_skipped: u64,
    /// From a client noticing its connection was gone to the `RESUME`
    /// reply on the new one, microseconds; `null` if nobody resumed.
    pub reconnect_us: Option<LatencySummary>,
}

/// One storm's figures (`storm.rounds[i]` in the JSON report).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StormRound {
    /// `first`, `resumed` or `full`.
    pub name: String,
    /// Clients that tried.
    pub clients: usize,
    /// Handshakes that ended well.
    pub handshakes: u64,
    /// Of those, how many resumed a session.
    pub resumed: u64,
    /// Clients that got their `/ping` answered.
    pub answered: u64,
    /// Clients that failed, by cause.
    pub failures: BTreeMap<String, u64>,
    /// connect() to the end of the handshake, microseconds.
    pub handshake_us: Option<LatencySummary>,
    /// The server's CPU (user + system) over the storm.
    pub server_cpu_secs: f64,
    /// chat-load's own CPU over the storm: the clients' side of the
    /// handshakes.
    pub load_cpu_secs: f64,
    /// From the first connect to the last client done.
    pub wall_secs: f64,
    /// The server's RSS once the storm was over, KiB.
    pub server_rss_kb: Option<u64>,
    /// The most the server's RSS was during the storm, KiB (sampled every
    /// 100 ms).
    pub server_rss_peak_kb: u64,
}

/// The storm result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StormReport {
    /// In order: `first`, `resumed`, `full`.
    pub rounds: Vec<StormRound>,
}

/// The search storm: a log of `log_messages`, `searchers` desks sending
/// `/search` with two words that never meet as fast as the server's rate
/// limit lets them, and what they got back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchStormReport {
    /// Messages in the log before the storm.
    pub log_messages: u64,
    /// Desks that searched.
    pub searchers: u64,
    /// `/search` lines they sent.
    pub searches_sent: u64,
    /// Answered with results (`SEARCH`).
    pub answered: u64,
    /// Refused with `ERR search-busy`: the desk's last search was not
    /// answered yet, or the server had too many waiting.
    pub search_busy: u64,
    /// Refused with `ERR search-too-broad`: stopped for taking too long.
    pub search_too_broad: u64,
    /// Other refusals, by their code.
    pub other_refusals: BTreeMap<String, u64>,
}

/// A burst of connections that never read and all close after the run's
/// `-d`: the resume bomb (`desks` desks join and `/resume EPOCH 0` over a
/// log of `log_messages` of `payload_bytes`) or the stalled handshakes
/// (`desks` connections send a TLS ClientHello and nothing more). The
/// server's VmRSS, KiB, around it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BurstReport {
    /// Messages in the log the desks resumed; 0 for stalled handshakes.
    pub log_messages: u64,
    /// Connections opened.
    pub desks: u64,
    /// Before the first of them connected.
    pub rss_before_kb: u64,
    /// The highest, sampled every 100 ms until they closed.
    pub rss_peak_kb: u64,
    /// 1 s after they all closed.
    pub rss_1s_after_kb: u64,
    /// `settled_after_secs` after they all closed.
    pub rss_settled_kb: u64,
    /// When the last reading was taken (`--settle`, 11 s by default: issue
    /// 17 asks for memory back "ten seconds after any burst ends").
    pub settled_after_secs: f64,
    /// Of them, how many the server had closed before they did: in the
    /// resume bomb those missing from `/who` just before the close; of the
    /// stalled handshakes those whose socket the server had closed.
    pub dropped: u64,
    /// The server still ran when they closed.
    pub server_alive: bool,
}

/// How many of the first rounds the RSS summary lists one by one.
pub const RSS_FIRST_ROUNDS: usize = 5;

/// The per-round RSS series in a few numbers: (round, KiB) pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RssCurve {
    /// The first [`RSS_FIRST_ROUNDS`] readings, in order.
    pub first: Vec<(u32, u64)>,
    /// The highest reading (the earliest, on a tie).
    pub max: (u32, u64),
    /// The last reading.
    pub last: (u32, u64),
}

impl RssCurve {
    /// Last reading minus the first, KiB: what the rounds left behind.
    pub fn growth_kb(&self) -> i64 {
        self.last.1 as i64 - self.first[0].1 as i64
    }
}

impl ChurnReport {
    /// The server's RSS after round `round`, KiB, if it was read.
    pub fn rss_after(&self, round: u32) -> Option<u64> {
        self.rounds.iter().find(|r| r.round == round)?.rss_kb
    }

    /// The RSS series summarised; `None` when no round has a reading.
    pub fn rss_curve(&self) -> Option<RssCurve> {
        let readings: Vec<(u32, u64)> = self
            .rounds
            .iter()
            .filter_map(|r| Some((r.round, r.rss_kb?)))
            .collect();
        let last = *readings.last()?;
        let max = readings
            .iter()
            .copied()
            .reduce(|best, next| if next.1 > best.1 { next } else { best })?;
        Some(RssCurve {
            first: readings.into_iter().take(RSS_FIRST_ROUNDS).collect(),
            max,
            last,
        })
    }
}

/// The server process, sampled from /proc every 100 ms.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerReport {
    /// The process watched.
    pub pid: u32,
    /// The first VmRSS sampled, before any client connected, KiB (an
    /// addition to the original schema). `hold`: (end − start) ÷ clients is
    /// what an idle client costs the server, [`ServerReport::bytes_per_client`].
    #[serde(default)]
    pub rss_start_kb: u64,
    /// Largest VmRSS sampled, KiB.
    pub rss_peak_kb: u64,
    /// Last VmRSS sampled, KiB.
    pub rss_end_kb: u64,
    /// VmHWM (peak RSS over the process's whole life) at the end, KiB.
    pub vm_hwm_kb: u64,
    /// Most threads sampled.
    pub threads_peak: u64,
    /// utime + stime over the measured phase and drain, seconds.
    pub cpu_secs: f64,
}

impl ServerReport {
    /// `pid`'s figures from what its sampler saw and the CPU clock ticks it
    /// used over the measured phase (`None`: unreadable, counted as 0).
    pub fn sampled(pid: u32, summary: &WatchSummary, cpu_ticks: Option<u64>) -> ServerReport {
        ServerReport {
            pid,
            rss_start_kb: summary.rss_start_kb,
            rss_peak_kb: summary.rss_peak_kb,
            rss_end_kb: summary.rss_end_kb,
            vm_hwm_kb: summary.hwm_kb,
            threads_peak: summary.threads_peak,
            cpu_secs: cpu_ticks.unwrap_or(0) as f64 / clock_ticks_per_sec(),
        }
    }

    /// What each of `clients` cost the server: its RSS at the end over its
    /// RSS before they came, in bytes each; `None` without a start sample.
    pub fn bytes_per_client(&self, clients: usize) -> Option<f64> {
        (self.rss_start_kb > 0 && clients > 0)
            .then(|| (self.rss_end_kb as f64 - self.rss_start_kb as f64) * 1024.0 / clients as f64)
    }
}

impl Report {
    /// A run's report before its figures: its mode, the server it ran
    /// against, its size, payload and length as configured, and every
    /// figure empty, for a scenario to fill in what it measured.
    pub fn of_run(config: &Config, addr: String) -> Report {
        Report {
            mode: config.mode.name().to_string(),
            addr,
            tls: false,
            irc_share: 0.0,
            ws: false,
            named: false,
            newcomers: false,
            tls_handshake_us: None,
            order: None,
            clients: config.clients,
            connected: 0,
            connect_failures: 0,
            connect_errors: BTreeMap::new(),
            senders: None,
            rate_per_sender: None,
            payload_bytes: config.payload_bytes,
            duration_secs: config.duration.as_secs_f64(),
            messages_sent: 0,
            deliveries_expected: 0,
            deliveries_received: 0,
            delivered_fraction: None,
            deliveries_per_sec: 0.0,
            latency_us: None,
            hold: None,
            slow: None,
            churn: None,
            restart: None,
            rooms: None,
            storm: None,
            search_storm: None,
            resume_bomb: None,
            handshake_stall: None,
            connect_latency_us: None,
            server: None,
            servers: Vec::new(),
            redis: None,
            disconnected_early: 0,
            wall_secs: 0.0,
            errors: Vec::new(),
        }
    }

    /// Which desks the clients were, when not all plain ones of ours.
    pub fn desks(&self) -> Option<String> {
        let named = match (self.named, self.newcomers) {
            (true, true) => ", named as newcomers",
            (true, false) => ", named",
            (false, _) => "",
        };
        if self.ws {
            Some(format!("browser (WebSocket){named}"))
        } else if self.irc_share >= 1.0 {
            Some("IRC".into())
        } else if self.irc_share > 0.0 {
            Some(format!(
                "{:.0}% IRC, the rest ours{named}",
                self.irc_share * 100.0
            ))
        } else {
            self.named.then(|| format!("ours{named}"))
        }
    }

    /// The one-line-per-fact summary printed when `--json` is not given.
    pub fn human(&self) -> String {
        let mut out = String::new();
        let mut line = |text: String| {
            out.push_str(&text);
            out.push('\n');
        };
        line(format!(
            "chat-load {} against {}: {} of {} connected, {} connect failures{}",
            self.mode,
            self.addr,
            self.connected,
            self.clients,
            self.connect_failures,
            errors_inline(&self.connect_errors),
        ));
        if let Some(desks) = self.desks() {
            line(format!("  desks: {desks}"));
        }
        match (self.senders, self.rate_per_sender) {
            (Some(senders), Some(rate)) => line(format!(
                "  load: {senders} senders x {rate} msg/s, {} byte payload, {:.1} s",
                self.payload_bytes, self.duration_secs
            )),
            (Some(senders), None) => line(format!(
                "  load: {senders} senders x 1 message per round, {} byte payload, at most {:.1} s",
                self.payload_bytes, self.duration_secs
            )),
            _ => {}
        }
        let fraction = self
            .delivered_fraction
            .map_or("n/a".to_string(), |f| format!("{:.4}%", f * 100.0));
        line(format!(
            "  messages sent {}, deliveries {} of {} expected ({fraction}), {:.0}/s",
            self.messages_sent,
            self.deliveries_received,
            self.deliveries_expected,
            self.deliveries_per_sec
        ));
        if let Some(lat) = &self.latency_us {
            line(format!("  latency   {}", latency_inline(lat)));
        }
        if let Some(lat) = &self.tls_handshake_us {
            line(format!("  tls       handshake {}", latency_inline(lat)));
        }
        if let Some(order) = &self.order {
            if order.receivers > 0 {
                line(format!(
                    "  order     {} of {} receivers on {} server(s) saw another order than the reference ({} IDs differed, {} not increasing, {} deliveries unchecked)",
                    order.receivers_differing,
                    order.receivers,
                    order.servers,
                    order.id_mismatches,
                    order.ids_not_increasing,
                    order.unchecked
                ));
            }
        }
        if let Some(rooms) = &self.rooms {
            line(format!(
                "  rooms     {} rooms, {} of {} connected clients in theirs, {} deliveries out of their room",
                rooms.rooms, rooms.in_room, self.connected, rooms.foreign_deliveries
            ));
        }
        if let Some(lat) = &self.connect_latency_us {
            line(format!("  connect   {}", latency_inline(lat)));
        }
        if let Some(hold) = &self.hold {
            line(format!(
                "  alive: {} of {} received the final broadcast",
                hold.alive, self.clients
            ));
        }
        if let Some(slow) = &self.slow {
            line(format!(
                "  slow readers: {} of {} dropped by the server ({} bytes were waiting for them)",
                slow.slow_dropped, slow.slow_clients, slow.bytes_read_after_run
            ));
        }
        if let Some(churn) = &self.churn {
            line(churn_inline(churn));
            if let Some(curve) = churn.rss_curve() {
                line(rss_curve_inline(&curve));
            }
        }
        if let Some(restart) = &self.restart {
            line(restart_inline(restart, self.clients));
            line(format!(
                "  after resume: lost {}, duplicated {}, out of order {}, delivered but not in the log {}; {} deliveries came in a replay; the log held {} of the {} messages sent",
                restart.lost,
                restart.duplicated,
                restart.out_of_order,
                restart.unlogged,
                restart.replayed,
                restart.log_messages,
                self.messages_sent
            ));
        }
        if let Some(storm) = &self.storm {
            for round in &storm.rounds {
                line(storm_inline(round));
            }
        }
        if let Some(storm) = &self.search_storm {
            line(search_storm_inline(storm));
        }
        if let Some(bomb) = &self.resume_bomb {
            line(burst_inline("resume bomb", bomb));
        }
        if let Some(stall) = &self.handshake_stall {
            line(burst_inline("stalled handshakes", stall));
        }
        let servers = if self.servers.is_empty() {
            self.server.iter().collect::<Vec<_>>()
        } else {
            self.servers.iter().collect()
        };
        for (what, server) in servers
            .into_iter()
            .map(|s| ("server", s))
            .chain(self.redis.iter().map(|s| ("redis", s)))
        {
            line(format!(
                "  {what} pid {}: rss start {} KiB, peak {} KiB, end {} KiB (hwm {} KiB), threads {}, cpu {:.2} s",
                server.pid,
                server.rss_start_kb,
                server.rss_peak_kb,
                server.rss_end_kb,
                server.vm_hwm_kb,
                server.threads_peak,
                server.cpu_secs
            ));
        }
        if let (Some(hold), Some(server)) = (&self.hold, &self.server) {
            if let Some(bytes) = server.bytes_per_client(self.connected) {
                line(format!(
                    "  server memory per client held: {bytes:.0} B (rss end - start, {} held, {} alive)",
                    self.connected, hold.alive
                ));
            }
        }
        line(format!(
            "  disconnected early {}, wall {:.1} s",
            self.disconnected_early, self.wall_secs
        ));
        for error in &self.errors {
            line(format!("  note: {error}"));
        }
        out
    }
}

/// `restart: SIGKILL at 5.0 s, down 1.0 s; 200 of 200 clients resumed, ...`.
fn restart_inline(restart: &RestartReport, clients: usize) -> String {
    let mut text = format!(
        "  restart: SIGKILL at {:.1} s, down {:.1} s; {} clients resumed, {} of {clients} not back",
        restart.kill_at_secs, restart.restart_after_secs, restart.resumed, restart.not_back
    );
    if let Some(away) = &restart.reconnect_us {
        let _ = write!(
            text,
            "; away p50 {:.0} ms, max {:.0} ms",
            away.p50 as f64 / 1000.0,
            away.max as f64 / 1000.0
        );
    }
    let _ = write!(
        text,
        "; {} reconnect attempts, {} sends skipped while down",
        restart.reconnect_attempts, restart.sends_skipped
    );
    if restart.replay_skipped > 0 {
        let _ = write!(
            text,
            ", {} missed messages too many to replay",
            restart.replay_skipped
        );
    }
    text
}

/// `search storm: log of 160000, 20 searchers sent 3980 searches: ...`.
fn search_storm_inline(storm: &SearchStormReport) -> String {
    let mut text = format!(
        "  search storm: log of {} messages, {} searchers sent {} searches: {} answered, {} search-busy, {} search-too-broad",
        storm.log_messages,
        storm.searchers,
        storm.searches_sent,
        storm.answered,
        storm.search_busy,
        storm.search_too_broad
    );
    for (code, count) in &storm.other_refusals {
        let _ = write!(text, ", {count} {code}");
    }
    text
}

/// `resume bomb: 1500 desks over 2100 messages: rss before ... MiB, ...`.
fn burst_inline(what: &str, bomb: &BurstReport) -> String {
    let mib = |kb: u64| kb as f64 / 1024.0;
    let over = match bomb.log_messages {
        0 => String::new(),
        messages => format!(" over {messages} messages"),
    };
    format!(
        "  {what}: {} desks{over}: server rss before {:.1} MiB, peak {:.1} MiB, 1 s after close {:.1} MiB, {:.0} s after {:.1} MiB; {} desks dropped by the server{}",
        bomb.desks,
        mib(bomb.rss_before_kb),
        mib(bomb.rss_peak_kb),
        mib(bomb.rss_1s_after_kb),
        bomb.settled_after_secs,
        mib(bomb.rss_settled_kb),
        bomb.dropped,
        if bomb.server_alive { "" } else { "; the server died" }
    )
}

fn churn_inline(churn: &ChurnReport) -> String {
    let mut text = format!("  churn: {} connections opened", churn.connections_opened);
    if let Some(life) = churn.lifetime_secs {
        let _ = write!(text, ", mean lifetime {life:.2} s");
    }
    if let Some(asked) = churn.rounds_asked {
        let _ = write!(text, ", {} of {asked} rounds", churn.rounds.len());
    }
    text
}

/// `server rss after round 1: 5120 KiB, 2: 5200, ...; max ... (round r), last ... (round n), +G KiB since round 1`.
fn rss_curve_inline(curve: &RssCurve) -> String {
    let first: Vec<String> = curve
        .first
        .iter()
        .enumerate()
        .map(|(i, (round, kb))| {
            if i == 0 {
                format!("{round}: {kb} KiB")
            } else {
                format!("{round}: {kb}")
            }
        })
        .collect();
    format!(
        "  server rss after round {}; max {} KiB (round {}), last {} KiB (round {}), {:+} KiB since round {}",
        first.join(", "),
        curve.max.1,
        curve.max.0,
        curve.last.1,
        curve.last.0,
        curve.growth_kb(),
        curve.first[0].0
    )
}

/// `storm resumed: 10000 handshakes (10000 resumed), ...`.
fn storm_inline(round: &StormRound) -> String {
    let mut text = format!(
        "  storm {}: {} of {} handshakes ({} resumed), {} answered, {} failed{}; server CPU {:.2} s, chat-load CPU {:.2} s, {:.2} s wall",
        round.name,
        round.handshakes,
        round.clients,
        round.resumed,
        round.answered,
        round.failures.values().sum::<u64>(),
        errors_inline(&round.failures),
        round.server_cpu_secs,
        round.load_cpu_secs,
        round.wall_secs,
    );
    if let Some(lat) = &round.handshake_us {
        let _ = write!(text, "\n    handshake {}", latency_inline(lat));
    }
    text
}

fn latency_inline(lat: &LatencySummary) -> String {
    format!(
        "us p50 {} p90 {} p99 {} p99.9 {} max {} (n={})",
        lat.p50, lat.p90, lat.p99, lat.p999, lat.max, lat.count
    )
}

fn errors_inline(errors: &BTreeMap<String, u64>) -> String {
    let mut out = String::new();
    for (name, count) in errors.iter().filter(|(_, &c)| c > 0) {
        let sep = if out.is_empty() { " (" } else { ", " };
        let _ = write!(out, "{sep}{name} {count}");
    }
    if !out.is_empty() {
        out.push(')');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn churn(readings: &[Option<u64>]) -> ChurnReport {
        ChurnReport {
            connections_opened: 300 * readings.len() as u64,
            lifetime_secs: None,
            rounds_asked: Some(readings.len() as u32),
            rounds: readings
                .iter()
                .zip(1..)
                .map(|(&rss_kb, round)| RoundReport {
                    round,
                    connected: 300,
                    rss_kb,
                })
                .collect(),
        }
    }

    #[test]
    fn curve_has_first_rounds_max_and_last() {
        let kb = [5000, 5200, 5100, 6000, 6100, 6200, 9000, 8000];
        let report = churn(&kb.map(Some));
        let curve = report.rss_curve().unwrap();
        assert_eq!(
            curve.first,
            vec![(1, 5000), (2, 5200), (3, 5100), (4, 6000), (5, 6100)]
        );
        assert_eq!(curve.max, (7, 9000));
        assert_eq!(curve.last, (8, 8000));
        assert_eq!(curve.growth_kb(), 3000);
        assert_eq!(report.rss_after(4), Some(6000));
        assert_eq!(report.rss_after(9), None);
    }

    #[test]
    fn curve_skips_missing_readings_and_keeps_the_earliest_max() {
        let curve = churn(&[None, Some(7000), Some(7000), Some(6500)])
            .rss_curve()
            .unwrap();
        assert_eq!(curve.first, vec![(2, 7000), (3, 7000), (4, 6500)]);
        assert_eq!(curve.max, (2, 7000));
        assert_eq!(curve.growth_kb(), -500);
    }

    #[test]
    fn no_readings_no_curve() {
        assert_eq!(churn(&[None, None]).rss_curve(), None);
        assert_eq!(churn(&[]).rss_curve(), None);
    }

    #[test]
    fn curve_is_one_compact_line() {
        let curve = churn(&[Some(5000), Some(5200), Some(9000)])
            .rss_curve()
            .unwrap();
        assert_eq!(
            rss_curve_inline(&curve),
            "  server rss after round 1: 5000 KiB, 2: 5200, 3: 9000; max 9000 KiB (round 3), last 9000 KiB (round 3), +4000 KiB since round 1"
        );
    }
}
