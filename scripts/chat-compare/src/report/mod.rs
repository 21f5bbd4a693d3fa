//! The report files: `report.md` (tables with event and threads side by side, ratios, the cost
//! of the durable log, the restart scenario, "what happened" lines and the target checks),
//! `results.csv` (one row per step) and `results.json` (step metadata plus every chat-load
//! output as printed). Rendering is pure text from a `RunRecord` so it is unit-tested with
//! fixture results; only `write_all` touches the disk.
//!
//! - [`cells`]: the text of one figure or one step.
//! - [`targets`]: the targets checked, and the paired figures (log's cost, TLS).
//! - [`tables`]: the tables, as column specs rendered by one function.
//! - [`files`]: `results.json` and `results.csv` from serde rows, and `results.json` read back.

pub mod cells;
pub mod files;
pub mod tables;
pub mod targets;

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::Path;

pub use cells::{progress_summary, what_happened};
pub use files::{read_record, render_csv, render_json};

use crate::ladder::{Ladder, Sizes, LOG_COST_RUNS};
use crate::model::{of_ladder, RunRecord, StepResult};
use cells::NOT_AVAILABLE;
use tables::{broadcast_table, churn_table, idle_table, log_cost_table, restart_table};
use tables::{dialect_table, resume_bomb_table, rooms_table, scale_table, search_storm_table};
use tables::{slow_table, storm_table, tls_table};
use targets::{TargetCheck, Verdict};

/// Why the fanout's p99 target is not met on a 2-core box, shown when it is not: what the
/// profiles taken by hand on the 2-core VM of the November 2026 runs found.
const FANOUT_P99_NOTE: &str = "Why the p99 target is not met here: each message alone means 1000 socket writes, and on the 2-core VM of the November 2026 runs the kernel's TCP path costs about 4 µs per write (a `perf` profile of the server shows the kernel's TCP stack in nearly all samples, our code in about 2%), so one message takes about 4 ms to fan out and the server is 80% busy while chat-load, reading 200,000 lines a second, needs the rest of the two cores. With the server and chat-load pinned to one core each (`taskset`), p99 fell to 18 ms. Lowering the rate does not rescue it: at 25 msg/s (an eighth of the target) the server is 25% busy and p99 is still 27 ms (22 ms pinned), because a single message's 1000 writes take several milliseconds back to back; `strace -c` shows the loop makes exactly one `writev` per delivery and almost nothing else. A second machine for the load, or more cores, is what the 5 ms target needs.";

/// What a log-cost ratio over the line means, shown when one is.
const LOG_COST_NOTE: &str = "A ratio over the line is not by itself a cost of the log: compare the runs on each side, which often overlap. On the 2-core VM of the November 2026 runs the saturating step's CPU per delivery moves from one run of the comparison to the next by as much as the target's margin: a full run that gave 1.18× was followed by an A/B of the same binaries that gave 1.08×, and an earlier full run gave 1.02×.";

/// The "what happened" list of `steps`.
fn happened_lines<'a>(steps: impl Iterator<Item = &'a StepResult>) -> String {
    let mut out = String::new();
    for result in steps {
        let lines = what_happened(result);
        if !lines.is_empty() {
            let _ = writeln!(
                out,
                "- {} clients, {} ({}): {}",
                result.step.workload.clients,
                result.step.server_label(),
                result.step.workload.ladder,
                lines.join("; ")
            );
        }
    }
    if out.is_empty() {
        out.push_str("- every step completed cleanly\n");
    }
    format!("What happened:\n\n{out}")
}

/// What the steps of `ladder` did, from its first step's workload; empty without one.
fn describe(record: &RunRecord, ladder: Ladder) -> String {
    let Some(first) = of_ladder(&record.results, ladder).next() else {
        return String::new();
    };
    let w = &first.step.workload;
    let (clients, senders, payload, secs) =
        (w.clients, w.senders, w.payload_bytes, w.duration_secs);
    let (rate, per_sender, load_mode) = (w.total_rate(), w.rate_per_sender, w.load_mode.name());
    let (kill_at, down) = (
        w.kill_at_secs.unwrap_or(0.0),
        w.restart_after_secs.unwrap_or(0.0),
    );
    let (rounds, log_messages) = (w.rounds.unwrap_or(0), w.log_messages.unwrap_or(0));
    let settle = w.settle_secs.unwrap_or(0.0);
    match ladder {
        Ladder::Idle => format!("`chat-load hold`, {secs} s held, then one broadcast that every client should receive."),
        Ladder::Restart => format!("`chat-load restart`: chat-load starts the event server on a fresh SQLite file, {clients} clients join, {senders} of them send {rate:.0} msg/s in total for {secs} s. At {kill_at} s the server gets SIGKILL; {down} s later it starts again on the same port and file. Every client reconnects (backoff from 50 ms, doubling, at most 400 ms, jittered), sends `/resume EPOCH LASTID`, ignores `MSG`/`HIST` until the `RESUME` reply, then counts both; senders skip their turns while down. After sending stops one more connection reads the log back with `/resume EPOCH 0`: a message in the log, stored after a client's first message, that the client never counted is lost; one a client counted that the log lacks, though older than its newest, was delivered and then lost by the log. \"Away\" is from a client finding its connection gone to the `RESUME` reply."),
        Ladder::SearchStorm => format!("`chat-load search-storm`: {clients} desks each send `/search zebra quokka` (two words of the log that never meet in one message) every 50 ms, the server's rate limit, for {secs} s, whatever the answers; from 0.5 s in, alice sends bob a line every 50 ms. \"Others\" is alice→bob; a line not there 10 s after the storm did not arrive."),
        Ladder::ResumeBomb => format!("`chat-load resume-bomb`: {clients} desks, each with a 4 KiB receive buffer, join and send `/resume EPOCH 0` over a log of {log_messages} messages of {payload} B and never read; {secs} s later they all close. The server's RSS is read before, every 100 ms until the close (the peak), 1 s and {settle} s after it; \"dropped\" are the desks `/who` no longer counted before the close."),
        Ladder::Churn => format!("`chat-load churn --rounds {rounds}`: each round {clients} clients connect, each sends one {payload} B message at the same moment, the deliveries drain, and all close without `/quit`; the server's RSS is read from `/proc` 100 ms after each round's last close. Each mode stops after {secs} s even with rounds left (the round under way is finished)."),
        _ => format!("`chat-load {load_mode}`, {rate:.0} msg/s in total ({senders} senders × {per_sender:.3} msg/s, {payload} B payload), {secs} s per step."),
    }
}

/// The title and what the run was: machine, memory limit, flags, room log, steps.
fn heading(record: &RunRecord) -> String {
    let (machine, date, db_dir) = (&record.machine, &record.date, &record.db_dir);
    let (kernel, cores) = (&machine.kernel, machine.cores);
    let quick = if record.quick { " --quick" } else { "" };
    let cpu = machine
        .cpu_model
        .as_ref()
        .map_or(String::new(), |m| format!(" ({m})"));
    let memory = machine
        .memory_mib
        .map_or(NOT_AVAILABLE.to_string(), |m| m.to_string());
    let limit = &record.memory_limit;
    let (limit_mib, limit) = (limit.limit_bytes >> 20, &limit.detail);
    let flags = record.server_flags.join(" ");
    let (steps, secs) = (record.results.len(), record.total_secs);
    format!(
        "# chat-server: event loop vs thread-per-client\n\n\
         Generated by `scripts/compare{quick}` (chat-compare) on {date}. Do not edit by hand; rerun the script.\n\n\
         - Machine: {kernel}, {cores} cores{cpu}, {memory} MiB RAM\n\
         - Memory limit ({limit_mib} MiB like the target box): {limit}\n\
         - Server flags (both modes): `--mode event|threads {flags}`, defaults otherwise\n\
         - Room log: event mode keeps it durable as shipped, `--db FILE`, a fresh SQLite file per step in {db_dir}, deleted after the step; its log-cost runs use `--db none`. Threads mode keeps its room in memory (it refuses `--db`)\n\
         - One fresh server per step; chat-load runs on the same machine and competes for the same {cores} cores\n\
         - {steps} steps in {secs:.0} s\n\n"
    )
}

/// A target checked against a run.
type Check = fn(&[StepResult]) -> TargetCheck;

/// One section of `report.md`: its title, the ladders whose steps it shows, what it measured,
/// its tables, and its plots (alt text, file). Its "what happened" lines are those of the
/// side-by-side steps of its ladders, or, with `other_runs`, of the other steps of its ladders
/// (the log's cost, TLS, Redis).
struct Section {
    title: &'static str,
    ladders: &'static [Ladder],
    other_runs: bool,
    /// Shown only when the run had steps of its ladders, so that the records of runs from
    /// before the ladder (the committed report's among them) render as they did.
    only_if_run: bool,
    /// What the section measured; `None`: what [`describe`] says of its first ladder.
    intro: Option<fn(&RunRecord) -> String>,
    body: fn(&[StepResult]) -> String,
    /// Words shown after "what happened" when this target is not met.
    note: Option<(Check, &'static str)>,
    plots: &'static [(&'static str, &'static str)],
}

/// A section of the side-by-side steps of `ladders`, with the defaults of most.
const fn section(
    title: &'static str,
    ladders: &'static [Ladder],
    body: fn(&[StepResult]) -> String,
) -> Section {
    Section {
        title,
        ladders,
        other_runs: false,
        only_if_run: false,
        intro: None,
        body,
        note: None,
        plots: &[],
    }
}

/// The sections of `report.md` between the targets and how the figures are taken, in order.
const SECTIONS: [Section; 12] = [
    Section {
        plots: &[("server RSS vs idle clients", "idle_rss.svg")],
        ..section("Idle clients", &[Ladder::Idle], idle_table)
    },
    Section {
        note: Some((targets::check_fanout, FANOUT_P99_NOTE)),
        plots: &[
            ("p99 latency vs clients", "fanout_p99.svg"),
            ("deliveries per second vs clients", "fanout_throughput.svg"),
        ],
        ..section("Fanout at a fixed total rate", &[Ladder::Fanout], |r| {
            broadcast_table(r, Ladder::Fanout)
        })
    },
    section(
        "Saturating step: CPU per delivery",
        &[Ladder::Saturate],
        |r| broadcast_table(r, Ladder::Saturate),
    ),
    Section {
        other_runs: true,
        note: Some((targets::check_log_cost, LOG_COST_NOTE)),
        intro: Some(|r| {
            format!("The event server as shipped (its log in a SQLite file) against the same server with `--db none`, same workload, alternating, {} runs each in this run of the comparison; the ratio is of the medians. Every other table shows the first run on the log.", Sizes::of(r.quick).log_cost_runs)
        }),
        ..section(
            "Cost of the durable log",
            &[Ladder::Fanout, Ladder::Saturate],
            log_cost_table,
        )
    },
    Section {
        intro: Some(|r| {
            format!("{} The slow run adds one client that never reads; latency and delivery are the other clients'. The event server keeps a queue per client and drops the reader whose queue passes `--max-queue`; the threads server stalls every broadcast behind a reader that never reads.", describe(r, Ladder::SlowBaseline))
        }),
        ..section(
            "One slow reader",
            &[Ladder::SlowBaseline, Ladder::SlowReader],
            slow_table,
        )
    },
    Section {
        plots: &[("server RSS after each churn round", "churn_rss.svg")],
        ..section(
            "Churn soak: memory after rounds",
            &[Ladder::Churn],
            churn_table,
        )
    },
    Section {
        other_runs: true,
        intro: Some(|r| {
            format!("The event server started with `--tls` (TLS and plain on one port, a self-signed certificate made at its start), every desk on TLS (`chat-load --tls`: rustls with ring, any certificate accepted but the handshake's signatures checked, no session resumption, so every desk pays a full handshake), next to the plain runs of the same workload on a server without `--tls`. The TLS runs of the fanout target's room and of the saturating step alternate with the plain ones ({} each); the ratio is of the medians. The server makes the handshake with rustls's unbuffered API, reading out of the loop's one shared buffer, then seals and opens TLS 1.3 records itself with the keys rustls hands over, kept as bytes: an idle TLS desk holds about 1 KiB more than a plain one and no buffer, and at most 256 handshakes run at once, so a storm of them leaves no heap behind. Encrypting a batch of chat lines costs little next to the kernel's cost of the write itself, so CPU per delivery on TLS stays near plain's. The storms: `chat-load storm` starts the event server with `--tls` on a fresh SQLite file (its certificate and session ticket keys kept beside it) and connects every client at once, each making its handshake and sending `/ping`, three times: on the fresh server; after the server stops (SIGTERM) and starts again on the same port and file, every client offering the ticket it was given; and after another restart with the tickets forgotten. Server CPU is the server's over each storm; chat-load's is the clients' half of the handshakes, on the same two cores.", Sizes::of(r.quick).log_cost_runs)
        }),
        ..section(
            "TLS",
            &[
                Ladder::TlsIdle,
                Ladder::TlsFanout,
                Ladder::TlsSaturate,
                Ladder::TlsStorm,
            ],
            |r| tls_table(r) + &storm_table(r),
        )
    },
    Section {
        other_runs: true,
        intro: Some(|r| {
            let size = of_ladder(&r.results, Ladder::Scale).next();
            let size = size.map_or_else(
                || "not in this run".to_string(),
                |r| format!("{} clients, 200 msg/s", r.step.workload.clients),
            );
            format!("The fanout above ({}), on one event server with its embedded log (the fanout step's own figures), on one event server whose room's log is a Redis stream (`--redis URL --room NAME`), and on two such servers sharing the stream, the clients spread over them round robin (`chat-load --addr A,B`). Each step starts its own `redis-server` (127.0.0.1, a free port, `--save '' --appendonly no`) and stops it after. Server CPU is all chat servers' together per delivery; Redis's is its own, sampled from `/proc` like the servers'. The order check: every message must reach every receiver under the same ID, and each receiver's IDs must increase; a receiver that saw anything else counts.", size)
        }),
        ..section(
            "Scale-out: one room over Redis",
            &[Ladder::Scale],
            scale_table,
        )
    },
    Section {
        only_if_run: true,
        intro: Some(|r| {
            format!("{} The event server as shipped, once per row: ours, IRC desks (`chat-load --irc`: `CAP REQ message-tags echo-message`, `NICK`, `USER`, then `PRIVMSG #main`, reading `PRIVMSG` lines back with their `@msgid`), browser desks (`--ws`: `GET /ws` upgraded, our lines in masked text frames), and a room of twice the size with IRC desks and ours half and half (`--irc-share 0.5`), each beside ours in a room of its size; every desk takes its name on connecting (`--named`), as an IRC desk must, so that no sender names itself inside the measured phase. Targets: an IRC desk within 1.2× of ours in CPU per delivery (issue 19), a browser desk within 1.3× (issue 20); one run each here, so a ratio near its target wants the repeated runs of the README.", describe(r, Ladder::Dialects))
        }),
        ..section("IRC and browser desks", &[Ladder::Dialects], dialect_table)
    },
    Section {
        intro: Some(|r| {
            format!("{} The clients, and so the senders, are spread over rooms (`chat-load --rooms N`: client i in room i mod N); each takes its name and enters its room, and each message goes to its room's members only. Each receiver checks it got its own room's messages, all of them, in one order, and none of another room's (\"out of their room\"). Next to it, the fanout of the same size in `#main` alone (the fanout step's own figures). Event server only: the threads server is the seed's, with one room.", describe(r, Ladder::Rooms))
        }),
        ..section("Many rooms", &[Ladder::Rooms], rooms_table)
    },
    section(
        "Restart: SIGKILL mid-run, resume",
        &[Ladder::Restart],
        restart_table,
    ),
    Section {
        only_if_run: true,
        intro: Some(|r| {
            let storm = describe(r, Ladder::SearchStorm);
            format!("Issue 17's attacks on the event server, each a chat-load scenario that fills a fresh SQLite log through a desk, then starts the server on it with its defaults (`--idle-timeout 0`); chat-load and the server share the step's cgroup.\n\n{}\n\n{}", storm, describe(r, Ladder::ResumeBomb))
        }),
        ..section(
            "Attacks: a search storm, a resume bomb",
            &[Ladder::SearchStorm, Ladder::ResumeBomb],
            |r| format!("{}\n{}", search_storm_table(r), resume_bomb_table(r)),
        )
    },
];

/// The whole `report.md`.
pub fn render_markdown(record: &RunRecord) -> String {
    let results = &record.results;
    let mut out = heading(record);
    out.push_str("## Targets (event mode)\n\n");
    out.push_str(&tables::targets_table(&targets::check_targets(results)));
    out.push_str("\nEach cell below reads **event / threads**; ratios are threads ÷ event (above 1 means threads costs more). \"n/a\" means chat-load did not report that figure; \"failed\" means the step produced no figures.\n\n");
    for section in &SECTIONS {
        let of_section = |r: &&StepResult| {
            section.ladders.contains(&r.step.workload.ladder)
                && r.step.is_side_by_side() != section.other_runs
        };
        if section.only_if_run && !results.iter().any(|r| of_section(&r)) {
            continue;
        }
        let mut happened = happened_lines(results.iter().filter(of_section));
        if let Some((check, note)) = section.note {
            if check(results).verdict == Verdict::NotMet {
                let _ = write!(happened, "\n{note}\n");
            }
        }
        let intro = match section.intro {
            Some(intro) => intro(record),
            None => describe(record, section.ladders[0]),
        };
        let (title, body) = (section.title, (section.body)(results));
        let _ = write!(out, "## {title}\n\n{intro}\n\n{body}\n{happened}");
        for (alt, file) in section.plots {
            let _ = write!(out, "\n![{alt}]({file})\n");
        }
        out.push('\n');
    }
    out.push_str(&how_the_figures_are_taken(record));
    out
}

/// The last section: where each figure comes from and how far to trust it, and where the logs
/// went (a record from before that was written down names the default, as its report did).
fn how_the_figures_are_taken(record: &RunRecord) -> String {
    let logs = record.log_dir.as_deref().unwrap_or("target/compare-logs");
    let tcp_wmem = record.machine.tcp_wmem.as_deref().map_or_else(
        || NOT_AVAILABLE.to_string(),
        |t| format!("min/default/max {t} bytes"),
    );
    format!(
        "## How the figures are taken\n\n\
         - Latency, delivery and connection counts come from chat-load's clients (send timestamp to receive).\n\
         - RSS peak, thread count and CPU seconds (user + system) of the server are sampled by chat-load from `/proc/PID` (`--server-pid`); CPU µs/delivery = server CPU ÷ deliveries received. The event server's three threads are the loop, the log writer and the room's log's storage thread, never one per client; the threads server has one per client.\n\
         - cgroup peak is the step cgroup's own high-water mark (includes kernel memory charged to it) when the limit applied. In the restart and storm steps chat-load starts the server, so chat-load and the server share the step's cgroup.\n\
         - The log's cost is the ratio of the medians of the runs with the log and without it, alternating ({LOG_COST_RUNS} each in the full run); on a shared 2-core box one run's p99 can be half again another's, so even the medians move by more than the 15% allowed from one comparison to the next, and a ratio near the line says little either way.\n\
         - The slow reader is dropped once the server's own queue for it passes `--max-queue` (256 KiB by default), but only after the kernel's send buffer for that socket is full; on loopback it autotunes up to `tcp_wmem` max ({tcp_wmem}), so a bounded step may end before the drop. Steps are short and other work on the machine (e.g. builds) shares the cores, so small-room p99 figures are noisy; compare orders of magnitude, not single milliseconds.\n\
         - TLS steps add `--tls` to the server's flags (its certificate is made at start and kept beside the step's log file) and `--tls` to chat-load's; the handshake times are chat-load's, from connect() to the handshake's end, with every client connecting at once. A `--tls` server waits for a connection's first byte before it serves it, so the plain figures come from servers without `--tls`.\n\
         - Redis steps give each server `--redis redis://127.0.0.1:PORT --room compare-STEP` in place of `--db`; chat-load samples every chat server (`--server-pid A,B`) and the redis-server (`--redis-pid`) from `/proc` over the measured phase, like the single server elsewhere.\n\
         - Raw data: `results.json` (every chat-load output plus step metadata), `results.csv` (one row per step). Server and chat-load logs of the last run: `{logs}/`.\n",
    )
}

/// Writes `report.md`, `results.csv` and `results.json` into `out_dir`.
pub fn write_all(out_dir: &Path, record: &RunRecord) -> io::Result<()> {
    fs::write(out_dir.join("report.md"), render_markdown(record))?;
    fs::write(out_dir.join("results.csv"), render_csv(&record.results))?;
    let json = serde_json::to_string_pretty(&render_json(record)).map_err(io::Error::other)?;
    fs::write(out_dir.join("results.json"), json + "\n")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::ladder::ServerMode;
    use crate::model::tests::{failed, fixture, record};

    #[test]
    fn failed_step_shows_failed_and_what_happened() {
        let results = vec![
            fixture(Ladder::Idle, 10_000, ServerMode::Event, json!({})),
            failed(
                Ladder::Idle,
                10_000,
                ServerMode::Threads,
                "server killed (OOM)",
            ),
        ];
        let text = idle_table(&results);
        assert!(text.contains("| 1000/10000 / failed |"), "{text}");
        let happened = happened_lines(results.iter());
        assert!(happened.contains("- 10000 clients, threads (idle): failed: server killed (OOM)"));
        assert!(happened.contains("- 10000 clients, event (idle): connected 1000/10000"));
    }

    #[test]
    fn markdown_has_every_section() {
        let text = render_markdown(&record(vec![
            fixture(Ladder::Idle, 100, ServerMode::Event, json!({})),
            fixture(Ladder::Fanout, 1000, ServerMode::Event, json!({})),
        ]));
        for heading in [
            "## Targets (event mode)",
            "## Idle clients",
            "## Fanout at a fixed total rate",
            "## Saturating step",
            "## One slow reader",
            "## Churn soak: memory after rounds",
            "## Cost of the durable log",
            "## Many rooms",
            "## Restart: SIGKILL mid-run, resume",
        ] {
            assert!(text.contains(heading), "missing {heading}");
        }
        assert!(text.contains("Linux 6.1, 2 cores, 1024 MiB RAM"));
        assert!(text.contains("logs of the last run: `target/compare-logs/`"));
        // The fanout target is met at the fixture's figures: no word on why it is not.
        assert!(!text.contains("Why the p99 target is not met"), "{text}");
    }

    #[test]
    fn the_report_names_the_log_folder_the_run_used() {
        let mut record = record(Vec::new());
        record.log_dir = Some("/build/compare-logs".into());
        let text = render_markdown(&record);
        assert!(
            text.contains("logs of the last run: `/build/compare-logs/`"),
            "{text}"
        );
        let json = render_json(&record);
        assert_eq!(json["log_dir"], "/build/compare-logs");
        assert_eq!(
            read_record(&json.to_string()).unwrap().log_dir,
            record.log_dir
        );
    }

    /// The committed report is what this code renders from the committed record. A change to
    /// the report's text fails here until `scripts/compare --render scripts/report/results.json`
    /// has written the committed report again.
    #[test]
    fn the_committed_report_is_this_code_s_rendering_of_its_record() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../report");
        let committed = |name: &str| fs::read_to_string(dir.join(name)).unwrap();
        let record = read_record(&committed("results.json")).unwrap();
        assert_eq!(render_markdown(&record), committed("report.md"));
        assert_eq!(render_csv(&record.results), committed("results.csv"));
        let json = serde_json::to_string_pretty(&render_json(&record)).unwrap();
        assert_eq!(json + "\n", committed("results.json"));
    }
}
