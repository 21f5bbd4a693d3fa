//! `chat-server`: parses flags, starts the log, binds, and hands the listener
//! to the chosen mode. Everything else lives in the library.

use std::process::ExitCode;

use chat_server::config::{parse_args, Command, Config, Mode, UserAction};
use chat_server::store::accounts;
use chat_server::{listener, log, threads, Server};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match parse_args(&args) {
        Ok(Command::Run(config)) => {
            let log_guard = log::init(config.log_level.as_ref());
            let result = run(*config);
            // Written before the process goes: the last lines of the log.
            drop(log_guard);
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("chat-server: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Ok(Command::Help(text)) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Ok(Command::User { action, db }) => match user(&action, &db) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("chat-server: {e}");
                ExitCode::FAILURE
            }
        },
        Ok(Command::Version) => {
            println!("chat-server {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("chat-server: {e}\n{}", e.usage);
            ExitCode::from(2)
        }
    }
}

fn run(config: Config) -> std::io::Result<()> {
    match listener::raise_fd_limit() {
        Ok(limit) => {
            if let Some(wanted) = config.max_clients {
                if wanted as u64 > limit {
                    tracing::warn!(
                        max_clients = wanted,
                        fd_limit = limit,
                        "[!] --max-clients is above the fd limit; newcomers past it will be refused"
                    );
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "[!] could not raise the fd limit"),
    }
    let listener = listener::bind(&config.host, config.port).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot listen on {}:{}: {e}", config.host, config.port),
        )
    })?;
    let addr = listener.local_addr()?;
    match config.mode {
        Mode::Event => {
            let config_budget_mib = config.queue_budget_bytes >> 20;
            let mut server = Server::new(listener, config)?;
            server.handle_signals()?;
            tracing::info!("[*] Room log: {}", server.store_description());
            tracing::info!(
                "[*] Queue budget: {} MiB for every desk's queue together (--queue-budget)",
                config_budget_mib
            );
            if let Some(tls) = server.tls_description() {
                tracing::info!("[*] {tls}");
            }
            if let Some(irc) = server.irc_addr() {
                tracing::info!("[*] IRC alone on {irc}");
            }
            tracing::info!("[*] Listening as {addr}");
            server.run()
        }
        Mode::Threads => {
            let server = threads::Server::new(listener, config)?;
            server.handle_signals()?;
            tracing::info!(
                "[*] Listening as {addr} (thread per client: a baseline, not for production)"
            );
            server.run()
        }
    }
}

/// `chat-server user ...`: changes the accounts in the room's log, which a
/// running server picks up by itself.
fn user(action: &UserAction, db: &std::path::Path) -> std::io::Result<()> {
    match action {
        UserAction::Add(name) => {
            let token = accounts::add(db, name)?;
            eprintln!("Account {name} added to {}.", db.display());
            eprintln!("Its token, shown this once (give it to {name}; keep it secret):");
            println!("{token}");
        }
        UserAction::Remove(name) => {
            let removed = accounts::remove(db, name)?;
            println!(
                "Account {removed} removed; a running server closes its desks within a second."
            );
        }
        UserAction::List => {
            let accounts = accounts::list(db)?;
            if accounts.is_empty() {
                println!("No accounts in {}.", db.display());
            }
            for account in accounts {
                println!("{}  (added {})", account.name, account.created);
            }
        }
    }
    Ok(())
}
