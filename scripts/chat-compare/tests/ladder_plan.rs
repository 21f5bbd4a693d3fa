//! Pins the ladder: every step of the full and the `--quick` runs, as `results.json` writes it,
//! with chat-load's and chat-server's command lines for it. `tests/ladder-*.txt` hold the plan;
//! a change to it must be meant (run with `UPDATE_LADDER_PLAN=1` to write the new one).

use std::path::Path;

use chat_compare::ladder::{self, RoomLog};
use chat_compare::load::{load_args, LoadTarget};
use chat_compare::runner::{keeps_a_log_file, server_args};

fn plan(quick: bool) -> String {
    let mut out = String::new();
    for step in ladder::steps(quick) {
        out += &format!("{}\n", serde_json::to_string(&step).unwrap());
        out += &format!("  id {} | {}\n", step.id(), step.server_label());
        let mode = step.workload.load_mode;
        let ports = [7001, 7002];
        let pids = [41, 42];
        let count = step.server_count as usize;
        let redis = step.room_log == RoomLog::Redis;
        // The step's own log file, where the runner makes one.
        let db = keeps_a_log_file(&step).then_some(Path::new("/tmp/db/room.db"));
        let target = if mode.starts_own_server() {
            let server_bin = Path::new("/bin/chat-server");
            LoadTarget::Own { server_bin, db }
        } else {
            let args = server_args(&step, db, redis.then_some(6400));
            out += &format!("  server {}\n", args.join(" "));
            LoadTarget::Running {
                ports: &ports[..count],
                server_pids: &pids[..count],
                redis_pid: redis.then_some(43),
                tls: step.tls,
            }
        };
        out += &format!("  load {}\n", load_args(&step, target).join(" "));
    }
    out
}

fn check(quick: bool, file: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(file);
    let actual = plan(quick);
    if std::env::var_os("UPDATE_LADDER_PLAN").is_some() {
        std::fs::write(&path, &actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    if actual != expected {
        let diff: Vec<String> = (actual.lines().zip(expected.lines()))
            .filter(|(a, e)| a != e)
            .take(5)
            .map(|(a, e)| format!("-{e}\n+{a}"))
            .collect();
        panic!("{file}: the ladder changed:\n{}", diff.join("\n"));
    }
}

#[test]
fn the_full_ladder_is_pinned() {
    check(false, "ladder-full.txt");
}

#[test]
fn the_quick_ladder_is_pinned() {
    check(true, "ladder-quick.txt");
}
