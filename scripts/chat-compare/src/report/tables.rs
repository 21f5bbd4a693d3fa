//! The report's tables, each a list of column specs (a header and how a row's cell is made)
//! rendered by one function. The side-by-side tables have a row per room size holding the
//! event and the threads step, their columns a [`Versus`] each; the others a row per step or
//! per paired figure.

use std::fmt::Write as _;

use chat_load::report::RestartReport;
use chat_load::report::StormRound;

use super::cells::{alive_text, connected_text, mib, ms, ms_each, or_na, pair, percent, rate};
use super::cells::{no_figures, ratio, two, NOT_AVAILABLE};
use super::targets::{check_tls_idle, log_costs, runs_text, tls_costs, tls_idle_pair, Paired};
use super::targets::{TargetCheck, CPU};
use crate::ladder::{Desks, Ladder, RoomLog, ServerMode};
use crate::load::us_per;
use crate::model::{find, of_ladder, StepResult, TLS_IDLE_RSS_TARGET_KB};

/// A Markdown table: the header row, then a row of cells per item of `rows`.
fn markdown(headers: &[&str], rows: impl Iterator<Item = Vec<String>>) -> String {
    let mut out = format!("| {} |\n", headers.join(" | "));
    let _ = writeln!(out, "|{}|", vec!["---"; headers.len()].join("|"));
    for cells in rows {
        let cells: Vec<String> = cells.iter().map(|cell| cell.replace('|', "\\|")).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out
}

/// A table column: its header and a row's cell, `None` when the row lacks the figure.
pub type Column<R> = (&'static str, fn(&R) -> Option<String>);

/// A Markdown table of `rows`, one column per spec. A missing figure reads as in [`pair`]:
/// "failed" when `failed` says the row's step produced no figures, else "n/a".
pub fn table<'a, R: 'a>(
    columns: &[Column<R>],
    rows: impl IntoIterator<Item = &'a R>,
    failed: fn(&R) -> bool,
) -> String {
    let headers: Vec<&str> = columns.iter().map(|(header, _)| *header).collect();
    let cells = rows.into_iter().map(|row| {
        let missing = if failed(row) { "failed" } else { NOT_AVAILABLE };
        let cell = |(_, figure): &Column<R>| figure(row).unwrap_or_else(|| missing.into());
        columns.iter().map(cell).collect()
    });
    markdown(&headers, cells)
}

/// What a column of a side-by-side table shows.
#[derive(Clone, Copy)]
enum Versus {
    /// What the row is about: its room size, or which run.
    Label,
    /// A figure of both steps, "event / threads".
    Both(fn(&StepResult) -> Option<String>),
    /// threads ÷ event of a figure.
    Ratio(fn(&StepResult) -> Option<f64>),
}

use Versus::{Both, Label, Ratio};

/// A side-by-side table, a row per label with the steps of its (ladder, clients) in both modes.
fn versus_table(
    columns: &[(&'static str, Versus)],
    results: &[StepResult],
    rows: impl Iterator<Item = (String, Ladder, Option<u32>)>,
) -> String {
    let headers: Vec<&str> = columns.iter().map(|(header, _)| *header).collect();
    let cells = rows.map(|(label, ladder, clients)| {
        let [event, threads] = ServerMode::BOTH.map(|mode| find(results, ladder, clients, mode));
        let cell = |(_, column): &(&str, Versus)| match *column {
            Label => label.clone(),
            Both(figure) => pair(event, threads, figure),
            Ratio(figure) => ratio(threads.and_then(figure), event.and_then(figure)),
        };
        columns.iter().map(cell).collect()
    });
    markdown(&headers, cells)
}

/// A side-by-side table of `ladder`, a row per room size in run order.
fn per_size(columns: &[(&'static str, Versus)], results: &[StepResult], ladder: Ladder) -> String {
    let mut sizes: Vec<u32> = Vec::new();
    for clients in of_ladder(results, ladder).map(|r| r.step.workload.clients) {
        if !sizes.contains(&clients) {
            sizes.push(clients);
        }
    }
    let rows = sizes.into_iter().map(|c| (c.to_string(), ladder, Some(c)));
    versus_table(columns, results, rows)
}

fn rss_mib(r: &StepResult) -> Option<String> {
    r.rss_peak_kb().map(mib)
}

fn threads_peak(r: &StepResult) -> Option<String> {
    Some(r.server()?.threads_peak.to_string())
}

fn cpu_secs(r: &StepResult) -> Option<String> {
    Some(two(r.server()?.cpu_secs))
}

fn delivered(r: &StepResult) -> Option<String> {
    r.delivered().map(percent)
}

fn p99_ms(r: &StepResult) -> Option<String> {
    r.p99_us().map(ms)
}

fn cpu_per_delivery(r: &StepResult) -> Option<String> {
    r.cpu_us_per_delivery().map(two)
}

/// KiB as MiB, for the figures chat-load counts in whole KiB.
fn kib_mib(kib: u64) -> String {
    mib(kib as f64)
}

/// The idle ladder: memory per connection.
pub fn idle_table(results: &[StepResult]) -> String {
    let kib_per_client = |r: &StepResult| {
        let clients = f64::from(r.step.workload.clients);
        r.rss_peak_kb().map(|kb| format!("{:.1}", kb / clients))
    };
    let cgroup_peak = |r: &StepResult| {
        let bytes = r.cgroup.peak_bytes?;
        Some(format!("{:.1}", bytes as f64 / 1_048_576.0))
    };
    let columns = [
        ("clients", Label),
        ("connected", Both(connected_text)),
        ("got final broadcast", Both(alive_text)),
        ("RSS peak MiB", Both(rss_mib)),
        ("RSS threads/event", Ratio(StepResult::rss_peak_kb)),
        ("KiB/client", Both(kib_per_client)),
        ("threads", Both(threads_peak)),
        ("CPU s", Both(cpu_secs)),
        ("cgroup peak MiB", Both(cgroup_peak)),
    ];
    per_size(&columns, results, Ladder::Idle)
}

fn deliveries_per_sec(r: &StepResult) -> Option<String> {
    Some(rate(r.load()?.deliveries_per_sec))
}

/// The columns of the fanout and saturating tables, and of the slow-reader pair.
const BROADCAST_COLUMNS: [(&str, Versus); 13] = [
    ("clients", Label),
    ("connected", Both(connected_text)),
    ("delivered", Both(delivered)),
    ("deliveries/s", Both(deliveries_per_sec)),
    ("p50 ms", Both(|r| Some(ms(r.latency()?.p50 as f64)))),
    ("p99 ms", Both(p99_ms)),
    ("max ms", Both(|r| Some(ms(r.latency()?.max as f64)))),
    ("p99 threads/event", Ratio(StepResult::p99_us)),
    ("RSS peak MiB", Both(rss_mib)),
    ("threads", Both(threads_peak)),
    ("CPU s", Both(cpu_secs)),
    ("CPU µs/delivery", Both(cpu_per_delivery)),
    ("CPU/delivery threads/event", Ratio(CPU)),
];

/// The fanout ladder (or the saturating step): delivery, latency, CPU.
pub fn broadcast_table(results: &[StepResult], ladder: Ladder) -> String {
    per_size(&BROADCAST_COLUMNS, results, ladder)
}

/// The slow-reader pair: the same room without and with one reader that never reads.
pub fn slow_table(results: &[StepResult]) -> String {
    let mut columns = BROADCAST_COLUMNS.to_vec();
    columns[0].0 = "run";
    let dropped = |r: &StepResult| {
        let slow = r.load()?.slow.as_ref()?;
        Some(format!("{}/{}", slow.slow_dropped, slow.slow_clients))
    };
    columns.push(("slow dropped", Both(dropped)));
    let rows = [
        ("without slow reader", Ladder::SlowBaseline),
        ("with 1 slow reader", Ladder::SlowReader),
    ];
    let rows = rows.map(|(label, ladder)| (label.to_string(), ladder, None));
    let factor = |mode| {
        let p99 = |ladder| find(results, ladder, None, mode).and_then(StepResult::p99_us);
        ratio(p99(Ladder::SlowReader), p99(Ladder::SlowBaseline))
    };
    format!(
        "{}\np99 with / without the slow reader: event {}, threads {}.\n",
        versus_table(&columns, results, rows.into_iter()),
        factor(ServerMode::Event),
        factor(ServerMode::Threads)
    )
}

/// The churn soak: the server's RSS after the rounds.
pub fn churn_table(results: &[StepResult]) -> String {
    let rounds_done = |r: &StepResult| {
        let churn = r.churn()?;
        Some(format!("{}/{}", churn.rounds.len(), churn.rounds_asked?))
    };
    let after_1 = |r: &StepResult| r.churn()?.rss_after(1).map(kib_mib);
    let after_10 = |r: &StepResult| r.churn()?.rss_after(10).map(kib_mib);
    let after_last = |r: &StepResult| Some(kib_mib(r.churn()?.rss_curve()?.last.1));
    let highest = |r: &StepResult| Some(kib_mib(r.churn()?.rss_curve()?.max.1));
    let growth = |r: &StepResult| {
        let growth = r.churn()?.rss_curve()?.growth_kb();
        Some(format!("{:+.1}", growth as f64 / 1024.0))
    };
    let columns = [
        ("clients per round", Label),
        ("rounds done", Both(rounds_done)),
        ("connected (fewest in a round)", Both(connected_text)),
        ("delivered", Both(delivered)),
        ("RSS after round 1 MiB", Both(after_1)),
        ("RSS after round 10 MiB", Both(after_10)),
        ("RSS after last round MiB", Both(after_last)),
        ("growth, round 1 to last, MiB", Both(growth)),
        ("highest RSS after a round MiB", Both(highest)),
    ];
    per_size(&columns, results, Ladder::Churn)
}

/// The durable log's price: the event server on its log and with `--db none`.
pub fn log_cost_table(results: &[StepResult]) -> String {
    let sides = [
        "with the log (SQLite file)",
        "`--db none`",
        "log ÷ none, medians",
    ];
    paired_table(sides, log_costs(results).iter(), Vec::new())
}

/// A table of paired figures after `rows` of its own: what each is, each side's median and
/// runs (`sides` names them and their ratio), the ratio of the medians, the target and the
/// verdict ("–" and nothing without a target).
fn paired_table<'a>(
    [first, second, ratio]: [&str; 3],
    pairs: impl Iterator<Item = &'a Paired>,
    mut rows: Vec<Vec<String>>,
) -> String {
    rows.extend(pairs.map(|c| {
        let (target, result) = match c.max_factor {
            Some(max) => (format!("≤ {max}×"), c.verdict.label().into()),
            None => ("–".into(), String::new()),
        };
        let (first, second) = (runs_text(&c.first), runs_text(&c.second));
        vec![
            c.label.clone(),
            first,
            second,
            c.ratio_text(),
            target,
            result,
        ]
    }));
    let first = format!("{first}: median (each run)");
    let second = format!("{second}: median (each run)");
    let headers = ["figure", &first, &second, ratio, "target", "result"];
    markdown(&headers, rows.into_iter())
}

/// TLS against plain: the idle room's memory (and its handshakes), then each paired figure.
pub fn tls_table(results: &[StepResult]) -> String {
    let mut rows: Vec<Vec<String>> = Vec::new();
    let tls_idle = of_ladder(results, Ladder::TlsIdle).next();
    if let Some(size) = tls_idle.map(|r| r.step.workload.clients) {
        let (tls, plain) = tls_idle_pair(results, size);
        let rss = |r: Option<&StepResult>| r.and_then(StepResult::rss_peak_kb);
        let alive = |r: Option<&StepResult>| or_na(r.and_then(alive_text));
        let (tls_alive, plain_alive) = (alive(tls), alive(plain));
        rows.push(vec![
            format!("{size} idle clients: server peak RSS MiB (all got the broadcast: TLS {tls_alive}, plain {plain_alive})"),
            or_na(rss(tls).map(mib)),
            or_na(rss(plain).map(mib)),
            ratio(rss(tls), rss(plain)),
            format!("≤ {:.0} MiB", TLS_IDLE_RSS_TARGET_KB / 1024.0),
            check_tls_idle(results).verdict.label().into(),
        ]);
        if let Some(h) = tls.and_then(|r| r.load()?.tls_handshake_us) {
            let mut row = vec![
                format!("{size} idle clients: TLS handshake p50 / p99 ms (all connecting at once)"),
                ms_each([Some(h.p50), Some(h.p99)]),
            ];
            row.resize(6, String::new());
            rows.push(row);
        }
    }
    let costs = tls_costs(results);
    let measured = costs
        .iter()
        .filter(|c| !(c.first.is_empty() && c.second.is_empty()));
    paired_table(["TLS", "plain", "TLS ÷ plain"], measured, rows)
}

/// The handshake storms, one row each: first, resumed after a restart, full after another.
pub fn storm_table(results: &[StepResult]) -> String {
    let Some(step) = of_ladder(results, Ladder::TlsStorm).next() else {
        return String::new();
    };
    let rounds = step.storm_rounds();
    if rounds.is_empty() {
        let why = step.failure.as_deref().unwrap_or("no figures");
        return format!("\nHandshake storms: {why}\n");
    }
    let columns: &[Column<StormRound>] = &[
        ("storm", |r| {
            Some(match r.name.as_str() {
                "first" => "first: a fresh server".into(),
                "resumed" => "resumed: after a restart, with tickets".into(),
                "full" => "full: after a restart, without".into(),
                other => other.into(),
            })
        }),
        ("handshakes (resumed) / clients", |r| {
            Some(format!("{} ({}) / {}", r.handshakes, r.resumed, r.clients))
        }),
        ("failed", |r| {
            Some(r.failures.values().sum::<u64>().to_string())
        }),
        ("handshake p50 / p99 ms", |r| {
            let h = r.handshake_us;
            Some(ms_each([h.map(|h| h.p50), h.map(|h| h.p99)]))
        }),
        ("server CPU s (µs per handshake)", |r| {
            let per = us_per(r.server_cpu_secs, r.handshakes);
            let per = or_na(per.map(|us| format!("{us:.0}")));
            Some(format!("{} ({per})", two(r.server_cpu_secs)))
        }),
        ("chat-load CPU s", |r| Some(two(r.load_cpu_secs))),
        ("wall s", |r| Some(two(r.wall_secs))),
        ("server peak RSS MiB", |r| {
            Some(kib_mib(r.server_rss_peak_kb))
        }),
    ];
    format!("\n{}", table(columns, rounds, |_| false))
}

/// The steps of `ladder` after the event server's fanout in a room of their size, the one they
/// are measured against; "Not in this run." without steps of `ladder`.
fn beside_the_fanout(
    columns: &[Column<StepResult>],
    results: &[StepResult],
    ladder: Ladder,
) -> String {
    let Some(first) = of_ladder(results, ladder).next() else {
        return "Not in this run.\n".into();
    };
    let size = Some(first.step.workload.clients);
    let fanout = find(results, Ladder::Fanout, size, ServerMode::Event);
    let rows = fanout.into_iter().chain(of_ladder(results, ladder));
    table(columns, rows, no_figures)
}

/// "N of M" receivers that saw the messages in another order than the others.
fn order_text(r: &StepResult) -> Option<String> {
    let order = r.load()?.order.as_ref()?;
    let (differing, receivers) = (order.receivers_differing, order.receivers);
    Some(format!("{differing} of {receivers}"))
}

/// One server on the embedded log, one on Redis, two sharing Redis, the same fanout.
pub fn scale_table(results: &[StepResult]) -> String {
    let columns: &[Column<StepResult>] = &[
        ("servers, room's log", |r| {
            let count = r.step.server_count;
            let servers = if count > 1 { "servers" } else { "server" };
            let log = match r.step.room_log {
                RoomLog::Redis => "Redis stream",
                _ => "embedded log (SQLite)",
            };
            Some(format!("{count} {servers}, {log}"))
        }),
        ("delivered", delivered),
        ("p99 ms", p99_ms),
        (
            "server CPU µs per delivery, all servers (each one's CPU)",
            servers_cpu_text,
        ),
        ("Redis CPU µs per delivery (its CPU)", |r| {
            if r.step.room_log != RoomLog::Redis {
                return Some("–".into());
            }
            let cpu = r.redis()?.cpu_secs;
            let per = us_per(cpu, r.load()?.deliveries_received)?;
            Some(format!("{per:.2} ({cpu:.2} s)"))
        }),
        ("Redis peak RSS MiB", |r| match r.step.room_log {
            RoomLog::Redis => Some(kib_mib(r.redis()?.rss_peak_kb)),
            _ => Some("–".into()),
        }),
        ("receivers that saw another order", order_text),
    ];
    beside_the_fanout(columns, results, Ladder::Scale)
}

/// CPU µs per delivery of all of a step's servers together, and each one's CPU seconds.
fn servers_cpu_text(result: &StepResult) -> Option<String> {
    let servers = result.servers();
    let total: f64 = servers.iter().map(|s| s.cpu_secs).sum();
    let per = us_per(total, result.load()?.deliveries_received).filter(|_| !servers.is_empty())?;
    let each: Vec<String> = servers.iter().map(|s| two(s.cpu_secs)).collect();
    Some(format!("{per:.2} ({} s)", each.join(" + ")))
}

/// The fanout spread over many rooms, next to the fanout of the same size in `#main` alone.
pub fn rooms_table(results: &[StepResult]) -> String {
    let columns: &[Column<StepResult>] = &[
        ("clients in", |r| {
            let w = &r.step.workload;
            Some(w.rooms.map_or("`#main` alone".into(), |rooms| {
                format!("{rooms} rooms of {}", w.clients / rooms.max(1))
            }))
        }),
        ("delivered", delivered),
        ("p99 ms", p99_ms),
        ("server CPU µs per message", |r| {
            let load = r.load()?;
            us_per(load.server.as_ref()?.cpu_secs, load.messages_sent).map(two)
        }),
        ("server CPU µs per delivery", cpu_per_delivery),
        ("deliveries out of their room", |r| {
            match r.step.workload.rooms {
                None => Some("–".into()),
                Some(_) => Some(r.load()?.rooms.as_ref()?.foreign_deliveries.to_string()),
            }
        }),
    ];
    beside_the_fanout(columns, results, Ladder::Rooms)
}

/// The fanout with IRC desks, browser desks and both, each beside ours in a room of its size.
pub fn dialect_table(results: &[StepResult]) -> String {
    // Each row with the step of ours in the room of its size, the one it is measured against.
    type Row<'a> = (&'a StepResult, Option<&'a StepResult>);
    let dialects = || of_ladder(results, Ladder::Dialects);
    let ours_beside = |r: &StepResult| {
        let ours = |o: &&StepResult| o.step.workload.desks == Desks::Ours;
        dialects().find(|o| ours(o) && o.step.workload.clients == r.step.workload.clients)
    };
    let rows: Vec<Row> = dialects().map(|r| (r, ours_beside(r))).collect();
    if rows.is_empty() {
        return "Not in this run.\n".into();
    }
    let columns: &[Column<Row>] = &[
        ("desks", |(r, _)| {
            let desks = match r.step.workload.desks {
                Desks::Ours => "ours",
                Desks::Irc => "IRC",
                Desks::Mixed => "half IRC, half ours",
                Desks::Ws => "browser (WebSocket)",
            };
            Some(format!("{} {desks}", r.step.workload.clients))
        }),
        ("delivered", |(r, _)| delivered(r)),
        ("p99 ms", |(r, _)| p99_ms(r)),
        ("p99 ÷ ours", |(r, ours)| {
            Some(ratio(r.p99_us(), ours.and_then(StepResult::p99_us)))
        }),
        ("server CPU µs per delivery", |(r, _)| cpu_per_delivery(r)),
        ("CPU ÷ ours (target)", |(r, ours)| {
            let cpu = ratio(r.cpu_us_per_delivery(), ours.and_then(CPU));
            Some(match r.step.workload.desks.cpu_target() {
                Some(target) => format!("{cpu} (≤ {target}×)"),
                None => cpu,
            })
        }),
        ("receivers that saw another order", |(r, _)| order_text(r)),
    ];
    table(columns, &rows, |(r, _)| no_figures(r))
}

fn restart_count(r: &StepResult, count: fn(&RestartReport) -> u64) -> Option<String> {
    Some(count(r.restart()?).to_string())
}

/// The restart scenario's one row: what the clients lost across a SIGKILL and a restart.
pub fn restart_table(results: &[StepResult]) -> String {
    let columns: &[Column<StepResult>] = &[
        ("clients", |r| Some(r.step.workload.clients.to_string())),
        ("senders × msg/s", |r| {
            let w = &r.step.workload;
            Some(format!("{} × {}", w.senders, w.rate_per_sender))
        }),
        ("SIGKILL at", |r| {
            let x = r.restart()?;
            Some(format!(
                "{} s, down {} s",
                x.kill_at_secs, x.restart_after_secs
            ))
        }),
        ("messages in the log / sent", |r| {
            let sent = r.load()?.messages_sent;
            Some(format!("{} / {sent}", r.restart()?.log_messages))
        }),
        ("delivered", delivered),
        ("lost", |r| restart_count(r, |x| x.lost)),
        ("duplicated", |r| restart_count(r, |x| x.duplicated)),
        ("out of order", |r| restart_count(r, |x| x.out_of_order)),
        ("delivered, not in the log", |r| {
            restart_count(r, |x| x.unlogged)
        }),
        ("came in a replay", |r| restart_count(r, |x| x.replayed)),
        ("resumed", |r| {
            let clients = r.step.workload.clients;
            Some(format!("{}/{clients}", r.restart()?.resumed))
        }),
        ("away p50 / max ms", |r| {
            let away = r.restart()?.reconnect_us;
            Some(ms_each([away.map(|a| a.p50), away.map(|a| a.max)]))
        }),
    ];
    table(columns, of_ladder(results, Ladder::Restart), no_figures)
}

/// The search storm's row: how the others fared, and what the searches got.
pub fn search_storm_table(results: &[StepResult]) -> String {
    let columns: &[Column<StepResult>] = &[
        ("log messages", |r| {
            r.step.workload.log_messages.map(|m| m.to_string())
        }),
        ("searchers × s", |r| {
            let w = &r.step.workload;
            Some(format!("{} × {}", w.clients, w.duration_secs))
        }),
        ("others' p50 / p99 / max ms", |r| {
            let l = r.latency()?;
            Some(ms_each([l.p50, l.p99, l.max].map(Some)))
        }),
        ("their lines arrived", |r| {
            let l = r.load()?;
            Some(format!("{} / {}", l.deliveries_received, l.messages_sent))
        }),
        ("searches sent", |r| {
            Some(r.search_storm()?.searches_sent.to_string())
        }),
        ("answered / search-busy / too broad", |r| {
            let s = r.search_storm()?;
            let (answered, busy, broad) = (s.answered, s.search_busy, s.search_too_broad);
            Some(format!("{answered} / {busy} / {broad}"))
        }),
        ("server CPU s", cpu_secs),
    ];
    table(columns, of_ladder(results, Ladder::SearchStorm), no_figures)
}

/// The resume bomb's row: the server's memory around it, and the desks it dropped.
pub fn resume_bomb_table(results: &[StepResult]) -> String {
    let columns: &[Column<StepResult>] = &[
        ("desks", |r| Some(r.step.workload.clients.to_string())),
        ("log messages × B", |r| {
            let w = &r.step.workload;
            let messages = or_na(w.log_messages.map(|m| m.to_string()));
            Some(format!("{messages} × {}", w.payload_bytes))
        }),
        ("RSS before / peak MiB", |r| {
            let b = r.resume_bomb()?;
            let [before, peak] = [b.rss_before_kb, b.rss_peak_kb].map(kib_mib);
            Some(format!("{before} / {peak}"))
        }),
        ("RSS after close MiB", |r| {
            let b = r.resume_bomb()?;
            let [after, settled] = [b.rss_1s_after_kb, b.rss_settled_kb].map(kib_mib);
            let secs = b.settled_after_secs;
            Some(format!("{after} at 1 s, {settled} at {secs} s"))
        }),
        ("dropped", |r| Some(r.resume_bomb()?.dropped.to_string())),
        ("server alive", |r| {
            let alive = r.resume_bomb()?.server_alive;
            Some(if alive { "yes" } else { "no" }.into())
        }),
    ];
    table(columns, of_ladder(results, Ladder::ResumeBomb), no_figures)
}

pub fn targets_table(checks: &[TargetCheck]) -> String {
    let columns: &[Column<TargetCheck>] = &[
        ("target", |c| Some(c.target.clone())),
        ("result", |c| Some(c.verdict.label().into())),
        ("figures", |c| Some(c.detail.clone())),
    ];
    table(columns, checks, |_| false)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::tests::{
        churn_fixture, failed, fixture, fixture_run, restart_fixture, storm_fixture,
    };
    use crate::report::cells::progress_summary;
    use crate::report::targets::tests::{log_cost_results, tls_idle, tls_runs};

    #[test]
    fn dialect_rows_are_measured_against_ours_in_a_room_of_their_size() {
        let row = |clients, desks, cpu_secs: f64| {
            let edits = json!({"deliveries_received": 1_000_000, "server": {"cpu_secs": cpu_secs}});
            let mut result = fixture(Ladder::Dialects, clients, ServerMode::Event, edits);
            result.step.workload.desks = desks;
            result
        };
        let results = vec![
            row(1000, Desks::Ours, 4.0),
            row(1000, Desks::Irc, 5.0),
            row(1000, Desks::Ws, 4.4),
            row(2000, Desks::Ours, 2.0),
            row(2000, Desks::Mixed, 2.2),
        ];
        let text = dialect_table(&results);
        let cpu_ratio = |at: usize| {
            let row = text.lines().nth(at).unwrap();
            row.split(" | ").nth(5).unwrap().to_string()
        };
        assert!(text.lines().nth(3).unwrap().starts_with("| 1000 IRC |"));
        assert_eq!(cpu_ratio(2), "1.00×");
        assert_eq!(cpu_ratio(3), "1.25× (≤ 1.2×)");
        assert_eq!(cpu_ratio(4), "1.10× (≤ 1.3×)");
        assert_eq!(cpu_ratio(6), "1.10× (≤ 1.2×)");
        assert_eq!(dialect_table(&[]), "Not in this run.\n");
    }

    #[test]
    fn fanout_row_shows_both_modes_and_ratio() {
        let results = vec![
            fixture(Ladder::Fanout, 1000, ServerMode::Event, json!({})),
            fixture(
                Ladder::Fanout,
                1000,
                ServerMode::Threads,
                json!({"latency_us": {"p99": 2700}, "server": {"threads_peak": 1001}}),
            ),
        ];
        let text = broadcast_table(&results, Ladder::Fanout);
        let row = text.lines().nth(2).unwrap();
        assert!(
            row.starts_with("| 1000 | 1000 / 1000 | 100% / 100% | 200.0k / 200.0k |"),
            "{row}"
        );
        assert!(row.contains("| 0.90 / 2.70 |"), "{row}");
        assert!(row.contains("| 3.00× |"), "{row}");
        assert!(row.contains("| 1 / 1001 |"), "{row}");
    }

    #[test]
    fn missing_mode_and_missing_figure_are_marked() {
        let results = vec![fixture(
            Ladder::Fanout,
            100,
            ServerMode::Event,
            json!({"latency_us": null}),
        )];
        let text = broadcast_table(&results, Ladder::Fanout);
        assert!(text.contains("| n/a / – |"), "{text}");
    }

    #[test]
    fn scale_table_has_each_server_redis_and_the_order() {
        let server = |pid: u32, cpu: f64| {
            json!({"pid": pid, "rss_peak_kb": 9000, "rss_end_kb": 9000, "vm_hwm_kb": 9000,
                   "threads_peak": 3, "cpu_secs": cpu})
        };
        let order = json!({"servers": 2, "receivers": 1000, "receivers_differing": 0,
                           "id_mismatches": 0, "ids_not_increasing": 0, "unchecked": 0});
        let one = fixture_run(
            Ladder::Scale,
            1000,
            ServerMode::Event,
            RoomLog::Redis,
            1,
            json!({"redis": server(7, 0.5), "order": order}),
        );
        let mut two = fixture_run(
            Ladder::Scale,
            1000,
            ServerMode::Event,
            RoomLog::Redis,
            1,
            json!({"servers": [server(5, 1.0), server(6, 0.8)],
                   "redis": server(7, 0.4), "order": order}),
        );
        two.step.server_count = 2;
        let results = vec![
            fixture(Ladder::Fanout, 1000, ServerMode::Event, json!({})),
            one,
            two,
        ];
        let table = scale_table(&results);
        assert!(table.contains("1 server, embedded log (SQLite)"), "{table}");
        assert!(table.contains("1 server, Redis stream"), "{table}");
        assert!(table.contains("2 servers, Redis stream"), "{table}");
        // 1.8 s of both servers over 2,000,000 deliveries.
        assert!(table.contains("0.90 (1.00 + 0.80 s)"), "{table}");
        assert!(table.contains("0.20 (0.40 s)"), "{table}");
        assert!(table.contains("0 of 1000"), "{table}");
        assert_eq!(scale_table(&[]), "Not in this run.\n");
    }

    #[test]
    fn rooms_table_sets_the_rooms_next_to_main_alone() {
        let mut rooms = fixture(
            Ladder::Rooms,
            1000,
            ServerMode::Event,
            json!({"deliveries_received": 20000,
                   "rooms": {"rooms": 100, "in_room": 1000, "foreign_deliveries": 0}}),
        );
        rooms.step.workload.rooms = Some(100);
        let results = vec![
            fixture(Ladder::Fanout, 1000, ServerMode::Event, json!({})),
            rooms,
        ];
        let table = rooms_table(&results);
        assert!(table.contains("| `#main` alone |"), "{table}");
        assert!(table.contains("| 100 rooms of 10 |"), "{table}");
        // 1.23 s over 2000 messages; over 20,000 deliveries in rooms of 10.
        assert!(table.contains("| 615.00 | 61.50 | 0 |"), "{table}");
        assert!(table.contains("| 615.00 | 0.61 | – |"), "{table}");
        assert_eq!(rooms_table(&[]), "Not in this run.\n");
    }

    #[test]
    fn restart_row_has_lost_duplicated_out_of_order_and_away() {
        let text = restart_table(&[restart_fixture(json!({}))]);
        let row = text.lines().nth(2).unwrap();
        assert_eq!(
            row,
            "| 500 | 20 × 4 | 5 s, down 1 s | 790 / 800 | 100% | 0 | 0 | 0 | 0 | 2400 | 500/500 | 1150 / 1400 |"
        );
        let line = progress_summary(&restart_fixture(json!({})));
        assert!(
            line.contains("lost 0, duplicated 0, out of order 0, away p50 1150 ms"),
            "{line}"
        );
    }

    #[test]
    fn attack_rows_show_the_others_latency_and_the_memory_around_the_bomb() {
        let storm = fixture(
            Ladder::SearchStorm,
            20,
            ServerMode::Event,
            json!({
                "mode": "search-storm", "messages_sent": 190, "deliveries_expected": 190,
                "deliveries_received": 188,
                "latency_us": {"p50": 1000, "p90": 3000, "p99": 8200, "p999": 14000,
                               "max": 14000, "count": 188},
                "search_storm": {"log_messages": 160000, "searchers": 20, "searches_sent": 4000,
                                 "answered": 1133, "search_busy": 2846, "search_too_broad": 3,
                                 "other_refusals": {}},
            }),
        );
        let row = search_storm_table(&[storm])
            .lines()
            .nth(2)
            .unwrap()
            .to_string();
        assert_eq!(
            row,
            "| 160000 | 20 × 10 | 1.00 / 8.20 / 14.0 | 188 / 190 | 4000 | 1133 / 2846 / 3 | 1.23 |"
        );
        let bomb = fixture(
            Ladder::ResumeBomb,
            1500,
            ServerMode::Event,
            json!({
                "mode": "resume-bomb",
                "resume_bomb": {"log_messages": 2100, "desks": 1500, "rss_before_kb": 7680,
                                "rss_peak_kb": 38298, "rss_1s_after_kb": 12698,
                                "rss_settled_kb": 11162, "settled_after_secs": 11.0,
                                "dropped": 0, "server_alive": true},
            }),
        );
        let row = resume_bomb_table(&[bomb])
            .lines()
            .nth(2)
            .unwrap()
            .to_string();
        assert_eq!(
            row,
            "| 1500 | 2100 × 400 | 7.5 / 37.4 | 12.4 at 1 s, 10.9 at 11 s | 0 | yes |"
        );
        let failed = failed(Ladder::ResumeBomb, 1500, ServerMode::Event, "timed out");
        assert!(resume_bomb_table(&[failed]).contains("| failed |"));
    }

    #[test]
    fn churn_row_shows_rss_after_first_tenth_and_last_round() {
        let mut event_kb: Vec<u64> = (0..60).map(|i| 4096 + 16 * i).collect();
        event_kb[29] = 10 * 1024;
        let results = vec![
            churn_fixture(ServerMode::Event, 60, &event_kb),
            churn_fixture(ServerMode::Threads, 60, &[3072; 11]),
        ];
        let text = churn_table(&results);
        let row = text.lines().nth(2).unwrap();
        assert_eq!(
            row,
            "| 300 | 60/60 / 11/60 | 300 / 300 | 100% / 100% | 4.0 / 3.0 | 4.1 / 3.0 | 4.9 / 3.0 | +0.9 / +0.0 | 10.0 / 3.0 |"
        );
        assert!(text.contains("| RSS after round 10 MiB |"), "{text}");
    }

    #[test]
    fn log_cost_table_has_each_run_the_medians_and_the_verdict() {
        let text = log_cost_table(&log_cost_results([700, 900], [1.1, 1.1]));
        let rows: Vec<&str> = text.lines().skip(2).collect();
        assert_eq!(
            rows[0],
            "| fanout 1000 clients × 200 msg/s: p99 ms | 0.90 (0.90, 0.90) | 0.80 (0.70, 0.90) | 1.12× | ≤ 1.15× | met |"
        );
        assert!(
            rows[1].starts_with(
                "| saturating, 500 clients × 2000 msg/s: CPU µs per delivery | 0.61 (0.61, 0.61) | 0.55 (0.55, 0.55) | 1.12× |"
            ),
            "{}",
            rows[1]
        );
        let text = log_cost_table(&log_cost_results([700, 700], [1.1, 1.1]));
        assert!(text.contains("| 1.29× | ≤ 1.15× | **not met** |"), "{text}");
        let results = vec![fixture(Ladder::Fanout, 1000, ServerMode::Event, json!({}))];
        let text = log_cost_table(&results);
        assert!(
            text.contains("| 0.90 (0.90) | n/a | n/a | ≤ 1.15× | not measured |"),
            "{text}"
        );
    }

    #[test]
    fn tls_table_has_the_idle_room_and_the_cpu_target() {
        let table = tls_table(&tls_runs(1.5, 1.0));
        assert!(table.contains("CPU µs per delivery"), "{table}");
        assert!(table.contains("≤ 1.3×"), "{table}");
        assert!(table.contains("≤ 1.2×"), "{table}");
        assert!(tls_table(&tls_idle(91_000, 10_000)).contains("88.9"));
    }

    #[test]
    fn storm_table_has_a_row_per_storm_with_cpu_per_handshake() {
        let table = storm_table(&[storm_fixture(10_000, 218_000)]);
        let row = |storm: &str| table.lines().find(|l| l.contains(storm)).unwrap_or("");
        assert!(
            row("resumed: after a restart")
                .contains("| 10000 (10000) / 10000 | 0 | 109 / 218 | 1.20 (120) |"),
            "{table}"
        );
        assert!(
            row("first: a fresh server").contains("| 10000 (0) / 10000 |"),
            "{table}"
        );
        assert!(
            row("full: after a restart").contains("145 / 290"),
            "{table}"
        );
        assert_eq!(storm_table(&[]), "");
    }
}
