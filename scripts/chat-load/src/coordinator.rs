//! The load modes' coordinator: raises the fd limit, starts the worker
//! threads, walks the phases (connect, warm-up, measure, final broadcast,
//! drain, slow check; churn in rounds goes from connect to vacate once per
//! round) with a time bound on each, prints progress, and merges the workers'
//! results into a [`Report`].
//!
//! It never touches a socket; that is `worker.rs`.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::common::{
    connect_budget, raise_fd_limit, rate_limit_note, run_id, Progress, WARMUP_BASE,
};
use crate::config::{Config, Mode};
use crate::modes::Plan;
use crate::report::{
    ChurnReport, HoldReport, OrderReport, Report, RoomsReport, RoundReport, ServerReport,
    SlowReport,
};
use crate::stats::{self, ServerWatch};
use crate::worker::{Phase, Shared, Worker, WorkerResult, SLOW_CHECK_LIMIT};
use crate::Error;

/// Longest wait for workers to acknowledge a phase change.
const ACK_TIMEOUT: Duration = Duration::from_secs(5);

/// How often the coordinator looks at the counters.
const TICK: Duration = Duration::from_millis(20);

/// Pause between a churn round's last close and reading the server's RSS,
/// so the server has handled every hang-up (and freed what it frees) first.
const ROUND_SETTLE: Duration = Duration::from_millis(100);

/// Runs one load test of the hold, fanout, connect, churn or slow mode as
/// `config` describes.
pub fn run(config: &Config) -> Result<Report, Error> {
    let started = Instant::now();
    raise_fd_limit(config.clients)?;
    // The servers first, in `--server-pid` order, then Redis.
    let mut watches = Vec::new();
    for (pid, flag) in config
        .server_pids
        .iter()
        .map(|pid| (*pid, "--server-pid"))
        .chain(config.redis_pid.map(|pid| (pid, "--redis-pid")))
    {
        watches.push(ServerWatch::start(pid).map_err(|source| Error::Io {
            context: format!("reading /proc/{pid} for {flag}"),
            source,
        })?);
    }

    let plan = Plan::new(config);
    let budget = time_budget(config, &plan);
    let shared = Shared::new(
        run_id(),
        Instant::now(),
        Instant::now() + budget,
        plan.room_count(),
        order_capacity(&plan),
    );
    let mut progress = Progress::new(config);
    let mut notes: Vec<String> = Vec::new();

    let outcome = std::thread::scope(|scope| -> Result<(Vec<WorkerResult>, PhaseInfo), Error> {
        let mut handles = Vec::new();
        for id in 0..config.threads {
            let worker =
                Worker::new(id, &shared, &plan, &config.addrs).map_err(|source| Error::Io {
                    context: "creating an event loop".into(),
                    source,
                })?;
            let handle = std::thread::Builder::new()
                .name(format!("load-{id}"))
                .spawn_scoped(scope, move || worker.run())
                .map_err(|source| Error::Io {
                    context: "starting a worker thread".into(),
                    source,
                })?;
            handles.push(handle);
        }
        let info = drive_phases(config, &plan, &shared, &mut progress, &watches, &mut notes);
        shared.set_phase(Phase::Done);
        let mut results = Vec::new();
        for handle in handles {
            let result = handle
                .join()
                .map_err(|_| Error::Worker("a worker thread panicked".into()))?
                .map_err(|source| Error::Io {
                    context: "polling sockets".into(),
                    source,
                })?;
            results.push(result);
        }
        Ok((results, info))
    });
    progress.finish();
    let (results, info) = outcome?;
    Ok(build_report(
        config, &plan, &shared, results, info, watches, notes, started,
    ))
}

/// Most measured messages the order check keeps a reference for (8 bytes
/// each); later ones are counted as unchecked.
const MAX_ORDER_CHECKED: usize = 4_000_000;

/// Room in each room's order check reference: the messages the plan will
/// send there (its share of the senders, rounded up), with half again as
/// slack, and the final broadcast.
fn order_capacity(plan: &Plan) -> usize {
    let rooms = plan.room_count();
    let senders = plan.senders.div_ceil(rooms) as f64;
    let messages = match plan.rounds {
        Some(rounds) => f64::from(rounds) * senders,
        None => senders * plan.rate_per_sender * plan.measure.unwrap_or_default().as_secs_f64(),
    };
    ((messages * 1.5) as usize + 1024).min(MAX_ORDER_CHECKED / rooms)
}

/// What the phase walk itself measured.
#[derive(Debug, Default)]
struct PhaseInfo {
    /// Start of the measured phase (connect mode: of the connect storm;
    /// rounds: of the first round's), microseconds since the epoch.
    measure_start_us: u64,
    /// CPU ticks (utime + stime) of each watched process (the servers, then
    /// Redis) from the measured phase's start to the end of the drain.
    cpu_ticks: Vec<Option<u64>>,
    /// Churn in rounds: one entry per round completed.
    rounds: Vec<RoundReport>,
}

/// Walks the phases, each bounded in time.
fn drive_phases(
    config: &Config,
    plan: &Plan,
    shared: &Shared,
    progress: &mut Progress,
    watches: &[ServerWatch],
    notes: &mut Vec<String>,
) -> PhaseInfo {
    if let Some(rounds) = plan.rounds {
        return drive_rounds(config, plan, shared, progress, watches, notes, rounds);
    }
    let mut info = PhaseInfo::default();
    let cpu_start_connect = cpu_now(watches);
    let connect_phase_end = connect(config, plan, shared, progress, "connect", notes);
    warm_up(config, plan, shared, progress, "warm-up", notes);

    // Measure.
    let cpu_start = if plan.connect_storm {
        cpu_start_connect
    } else {
        cpu_now(watches)
    };
    let measure_start = if plan.connect_storm {
        connect_phase_end
    } else {
        Instant::now()
    };
    info.measure_start_us = measure_start.duration_since(shared.epoch).as_micros() as u64;
    if let Some(length) = plan.measure {
        set_phase(shared, Phase::Measure, config.threads, notes);
        let end = Instant::now() + length;
        wait_until(shared, progress, "measure", end, |_| false);
    }
    if plan.final_broadcast {
        // Deliveries/s of the one broadcast, not diluted by the idle time.
        info.measure_start_us = shared.epoch.elapsed().as_micros() as u64;
        set_phase(shared, Phase::Final, config.threads, notes);
        let rooms = plan.room_count() as u64;
        let sent = shared.sent();
        if plan.rooms.is_none() && sent == 0 {
            notes.push("client 0 was not connected, so no final broadcast was sent".into());
        } else if sent < rooms {
            notes.push(format!(
                "{} of {rooms} rooms got no final broadcast: their first client was not in the room",
                rooms - sent
            ));
        }
    }

    drain(config, shared, progress, "drain", notes);
    info.cpu_ticks = cpu_since(watches, &cpu_start);

    if plan.slow > 0 {
        progress.say("checking slow clients");
        set_phase(shared, Phase::SlowCheck, config.threads, notes);
    }
    info
}

/// Churn in rounds: connect, warm up, every sender speaks once, drain, all
/// vanish, then the server's RSS is read; again, until the rounds are done
/// or `-d` has passed (the round under way is finished either way).
fn drive_rounds(
    config: &Config,
    plan: &Plan,
    shared: &Shared,
    progress: &mut Progress,
    watches: &[ServerWatch],
    notes: &mut Vec<String>,
    rounds: u32,
) -> PhaseInfo {
    let watch = watches.first();
    let mut info = PhaseInfo::default();
    let started = Instant::now();
    let mut cpu_start = Vec::new();
    // Claimed connects before this round; exact, since no connect is under
    // way between one round's Vacate and the next round's Connecting.
    let mut connected_before = 0;
    for round in 1..=rounds {
        if round > 1 {
            if started.elapsed() >= config.duration {
                notes.push(format!(
                    "stopped after {} of {rounds} rounds: the time bound (-d) ran out",
                    round - 1
                ));
                break;
            }
            shared.start_round(round - 1);
            set_phase(shared, Phase::Connecting, config.threads, notes);
        }
        let stage = format!("round {round}/{rounds}");
        connect(config, plan, shared, progress, &stage, notes);
        warm_up(config, plan, shared, progress, &stage, notes);
        if round == 1 {
            cpu_start = cpu_now(watches);
            info.measure_start_us = shared.epoch.elapsed().as_micros() as u64;
        }
        // Entering Measure, every open sender sends its one message.
        set_phase(shared, Phase::Measure, config.threads, notes);
        drain(config, shared, progress, &stage, notes);
        set_phase(shared, Phase::Vacate, config.threads, notes);
        std::thread::sleep(ROUND_SETTLE);
        let connected = shared.connected.load(Ordering::SeqCst);
        info.rounds.push(RoundReport {
            round,
            connected: connected - connected_before,
            rss_kb: watch.and_then(|w| w.rss_kb()),
        });
        connected_before = connected;
    }
    info.cpu_ticks = cpu_since(watches, &cpu_start);
    info
}

/// Connect: every claimed attempt resolves (connect errors time out after
/// CONNECT_TIMEOUT), or the connect storm's duration runs out. Returns when
/// the phase ended.
fn connect(
    config: &Config,
    plan: &Plan,
    shared: &Shared,
    progress: &mut Progress,
    stage: &str,
    notes: &mut Vec<String>,
) -> Instant {
    let connect_deadline = Instant::now() + connect_budget(config, plan);
    let storm_end = plan.connect_storm.then(|| Instant::now() + config.duration);
    wait_until(shared, progress, stage, connect_deadline, |s| {
        if storm_end.is_some_and(|end| Instant::now() >= end) {
            s.close_claiming();
            return s.attempts_done.load(Ordering::Relaxed) >= s.claimed();
        }
        s.attempts_done.load(Ordering::Relaxed) >= plan.clients
    });
    shared.close_claiming();
    let attempted = shared.claimed();
    if attempted < plan.clients {
        notes.push(format!(
            "{stage}: {} of {} connections not attempted: the connect phase ran out of time",
            plan.clients - attempted,
            plan.clients
        ));
    }
    Instant::now()
}

/// Warm-up: until every open reader has seen a MSG, i.e. is registered.
fn warm_up(
    config: &Config,
    plan: &Plan,
    shared: &Shared,
    progress: &mut Progress,
    stage: &str,
    notes: &mut Vec<String>,
) {
    set_phase(shared, Phase::Warmup, config.threads, notes);
    let warmup_limit = WARMUP_BASE + Duration::from_millis(plan.clients as u64 / 2);
    wait_until(
        shared,
        progress,
        stage,
        Instant::now() + warmup_limit,
        |s| {
            let open = s.readers_open.load(Ordering::Relaxed);
            open > 0 && s.readers_ready.load(Ordering::Relaxed) >= open
        },
    );
    let open = shared.readers_open.load(Ordering::Relaxed);
    let ready = shared.readers_ready.load(Ordering::Relaxed);
    if ready < open {
        notes.push(format!(
            "{stage}: {} of {open} open readers never received a probe; they are not counted until they receive a message",
            open - ready
        ));
    }
}

/// Drain: stop sending, fix the total, wait for what is in flight.
fn drain(
    config: &Config,
    shared: &Shared,
    progress: &mut Progress,
    stage: &str,
    notes: &mut Vec<String>,
) {
    set_phase(shared, Phase::StopSending, config.threads, notes);
    set_phase(shared, Phase::Drain, config.threads, notes);
    wait_until(
        shared,
        progress,
        stage,
        Instant::now() + config.drain,
        |s| s.received.load(Ordering::Relaxed) >= s.expected.load(Ordering::Relaxed),
    );
}

/// Server CPU ticks since `start`; `None` without a reading at either end.
fn cpu_since(watches: &[ServerWatch], start: &[Option<u64>]) -> Vec<Option<u64>> {
    watches
        .iter()
        .zip(start)
        .map(|(watch, start)| Some(watch.cpu_ticks()?.saturating_sub((*start)?)))
        .collect()
}

/// Each watched process's CPU ticks now.
fn cpu_now(watches: &[ServerWatch]) -> Vec<Option<u64>> {
    watches.iter().map(ServerWatch::cpu_ticks).collect()
}

/// Sets `phase` and waits (bounded) for every worker to acknowledge it.
fn set_phase(shared: &Shared, phase: Phase, workers: usize, notes: &mut Vec<String>) {
    shared.set_phase(phase);
    let limit = if phase == Phase::SlowCheck {
        ACK_TIMEOUT + SLOW_CHECK_LIMIT
    } else {
        ACK_TIMEOUT
    };
    let deadline = (Instant::now() + limit).min(shared.deadline);
    while shared.acks() < workers {
        if Instant::now() >= deadline {
            notes.push(format!(
                "workers did not acknowledge phase {phase:?} in time"
            ));
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Sleeps in ticks until `done` holds, `until` passes or the run's deadline
/// passes, printing progress.
fn wait_until(
    shared: &Shared,
    progress: &mut Progress,
    stage: &str,
    until: Instant,
    mut done: impl FnMut(&Shared) -> bool,
) {
    let until = until.min(shared.deadline);
    loop {
        if done(shared) || Instant::now() >= until {
            return;
        }
        tick(progress, shared, stage);
        std::thread::sleep(TICK);
    }
}

/// The hard deadline for the whole run: the sum of every phase's bound plus
/// a margin. Nothing runs past it.
fn time_budget(config: &Config, plan: &Plan) -> Duration {
    connect_budget(config, plan)
        + WARMUP_BASE
        + Duration::from_millis(plan.clients as u64 / 2)
        + plan.measure.unwrap_or_default()
        + config.drain
        + SLOW_CHECK_LIMIT
        + 5 * ACK_TIMEOUT
        + Duration::from_secs(10)
}

#[allow(clippy::too_many_arguments)]
fn build_report(
    config: &Config,
    plan: &Plan,
    shared: &Shared,
    results: Vec<WorkerResult>,
    phase_info: PhaseInfo,
    watches: Vec<ServerWatch>,
    mut errors: Vec<String>,
    started: Instant,
) -> Report {
    let mut total = WorkerResult::empty();
    for result in results {
        // Both histograms have the same bounds, so adding cannot fail.
        let _ = total.latency.add(&result.latency);
        let _ = total.connect_latency.add(&result.connect_latency);
        for (name, count) in result.connect_errors {
            *total.connect_errors.entry(name).or_insert(0) += count;
        }
        for (what, count) in result.notes {
            *total.notes.entry(what).or_insert(0) += count;
        }
        total.alive += result.alive;
        total.disconnected_early += result.disconnected_early;
        total.slow_clients += result.slow_clients;
        total.slow_dropped += result.slow_dropped;
        total.slow_bytes_read += result.slow_bytes_read;
        total.connections_opened += result.connections_opened;
        total.last_delivery_us = total.last_delivery_us.max(result.last_delivery_us);
        let _ = total.tls_handshake.add(&result.tls_handshake);
        total.order_checked += result.order_checked;
        total.order_differed += result.order_differed;
        total.order_id_mismatches += result.order_id_mismatches;
        total.order_not_increasing += result.order_not_increasing;
        total.order_unchecked += result.order_unchecked;
        total.in_room += result.in_room;
        total.foreign_deliveries += result.foreign_deliveries;
    }
    total
        .connect_errors
        .entry("ECONNREFUSED".into())
        .or_insert(0);

    errors.extend(rate_limit_note(config));
    for (what, count) in &total.notes {
        errors.push(format!("{what} (x{count})"));
    }

    let sent = shared.sent();
    let expected = shared.expected.load(Ordering::SeqCst);
    let received = shared.received.load(Ordering::SeqCst);
    let measure_start_us = phase_info.measure_start_us;
    let delivery_secs = total.last_delivery_us.saturating_sub(measure_start_us) as f64 / 1e6;
    let pids = config.server_pids.iter().chain(config.redis_pid.iter());
    let mut watched: Vec<ServerReport> = watches
        .into_iter()
        .zip(pids)
        .enumerate()
        .map(|(at, (watch, &pid))| {
            let summary = watch.finish();
            if summary.lost {
                errors.push(format!(
                    "watched pid {pid} vanished or became unreadable during the run"
                ));
            }
            let ticks = phase_info.cpu_ticks.get(at).copied().flatten();
            ServerReport::sampled(pid, &summary, ticks)
        })
        .collect();
    let redis = config.redis_pid.and_then(|_| watched.pop());
    let server = watched.first().cloned();
    let mode = config.mode;
    Report {
        mode: mode.name().to_string(),
        addr: config.addr_text.clone(),
        tls: config.tls,
        irc_share: config.irc_share,
        ws: config.web,
        named: config.named,
        newcomers: config.newcomers,
        tls_handshake_us: stats::summarize(&total.tls_handshake),
        order: Some(OrderReport {
            servers: config.addrs.len(),
            receivers: total.order_checked,
            receivers_differing: total.order_differed,
            id_mismatches: total.order_id_mismatches,
            ids_not_increasing: total.order_not_increasing,
            unchecked: total.order_unchecked,
        }),
        clients: config.clients,
        connected: match plan.rounds {
            Some(_) => phase_info
                .rounds
                .iter()
                .map(|r| r.connected)
                .min()
                .unwrap_or(0),
            None => shared.connected.load(Ordering::SeqCst),
        },
        connect_failures: shared.failures.load(Ordering::SeqCst),
        connect_errors: total.connect_errors,
        senders: (plan.senders > 0).then_some(plan.senders),
        rate_per_sender: (plan.senders > 0 && plan.rounds.is_none())
            .then_some(plan.rate_per_sender),
        payload_bytes: plan.payload_bytes,
        duration_secs: config.duration.as_secs_f64(),
        messages_sent: sent,
        deliveries_expected: expected,
        deliveries_received: received,
        delivered_fraction: (expected > 0).then(|| received as f64 / expected as f64),
        deliveries_per_sec: if delivery_secs > 0.0 {
            received as f64 / delivery_secs
        } else {
            0.0
        },
        latency_us: stats::summarize(&total.latency),
        hold: plan
            .final_broadcast
            .then_some(HoldReport { alive: total.alive }),
        slow: (mode == Mode::Slow).then_some(SlowReport {
            slow_clients: total.slow_clients,
            slow_dropped: total.slow_dropped,
            bytes_read_after_run: total.slow_bytes_read,
        }),
        churn: (mode == Mode::Churn).then(|| ChurnReport {
            connections_opened: total.connections_opened,
            lifetime_secs: plan.churn_lifetime.map(|life| life.as_secs_f64()),
            rounds_asked: plan.rounds,
            rounds: phase_info.rounds,
        }),
        rooms: plan.rooms.map(|rooms| RoomsReport {
            rooms,
            in_room: total.in_room,
            foreign_deliveries: total.foreign_deliveries,
        }),
        connect_latency_us: if plan.connect_storm {
            stats::summarize(&total.connect_latency)
        } else {
            None
        },
        server,
        servers: if watched.len() > 1 {
            watched
        } else {
            Vec::new()
        },
        redis,
        disconnected_early: total.disconnected_early,
        wall_secs: started.elapsed().as_secs_f64(),
        errors,
        // The scenarios' own sections are not this run's.
        ..Report::of_run(config, config.addr_text.clone())
    }
}

/// The progress line: connects, readiness and messages so far.
fn tick(progress: &mut Progress, shared: &Shared, stage: &str) {
    let clients = progress.clients();
    progress.tick_with(stage, || {
        format!(
            "connected {}/{clients} failed {} ready {} sent {} received {}",
            shared.connected.load(Ordering::Relaxed),
            shared.failures.load(Ordering::Relaxed),
            shared.readers_ready.load(Ordering::Relaxed),
            shared.sent(),
            shared.received.load(Ordering::Relaxed),
        )
    });
}
