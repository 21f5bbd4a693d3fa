//! What the tests against an in-process chat-server share: starting it, a
//! run of chat-load against it, and the check that everything arrived.

// Each test binary compiles this module and uses its own share of it.
#![allow(dead_code)]

use chat_load::{parse_args, run, Report};
use chat_server::config::Db;
use chat_server::{Config as ServerConfig, RunningServer};

pub fn start_server(config: ServerConfig) -> RunningServer {
    RunningServer::start(config).expect("the server starts on 127.0.0.1:0")
}

/// No idle timeout, and the room in memory: load tests must never write the
/// default log under the user's home.
pub fn quiet_server() -> ServerConfig {
    ServerConfig {
        idle_timeout: None,
        db: Db::None,
        ..ServerConfig::default()
    }
}

pub fn load(server: &RunningServer, args: &[&str]) -> Report {
    let addr = server.addr().to_string();
    let mut all = args.to_vec();
    all.extend(["--addr", &addr, "--quiet", "--drain", "5"]);
    let config = parse_args(&all).expect("test flags are valid");
    run(&config).expect("the run completes")
}

#[track_caller]
pub fn assert_complete_delivery(report: &Report) {
    assert_eq!(
        report.connected, report.clients,
        "all connected: {report:#?}"
    );
    assert!(
        report.deliveries_expected > 0,
        "something was expected: {report:#?}"
    );
    assert_eq!(
        report.deliveries_received, report.deliveries_expected,
        "every delivery arrived: {report:#?}"
    );
    assert_eq!(report.delivered_fraction, Some(1.0));
    assert_eq!(report.disconnected_early, 0);
}
