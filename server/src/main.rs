//! `chat-server`: parses flags, starts the log, binds, and hands the listener
//! to the chosen mode. Everything else lives in the library.

use std::process::ExitCode;

use chat_server::config::{parse_args, Command, Config, Db, Mode, UserAction};
use chat_server::store::{
    self,
    accounts::{self, Missing},
};
use chat_server::{listener, log, threads, Server};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match parse_args(&args) {
        Ok(Command::Run(config)) => {
            let log_guard = log::init(config.log_level.as_ref());
            for warning in &config.warnings {
                tracing::warn!("[!] {warning}");
            }
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
        Ok(Command::User {
            action,
            db,
            warnings,
        }) => match user(&action, &db, &warnings) {
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

/// `chat-server user ...`: changes the accounts where the servers keep
/// them (the room's log, or the office on Redis); running servers pick the
/// change up by themselves.
fn user(action: &UserAction, db: &Db, warnings: &[String]) -> std::io::Result<()> {
    for warning in warnings {
        eprintln!("chat-server: warning: {warning}");
    }
    let missing = match action {
        UserAction::Add(_) => Missing::Create,
        UserAction::Remove(_) | UserAction::List => Missing::Refuse,
    };
    let mut book = store::open_book(db, missing)?;
    match action {
        UserAction::Add(name) => {
            let token = accounts::add(book.as_mut(), name)?;
            eprintln!("Account {name} added to {}.", book.place());
            eprintln!("Its token, shown this once (give it to {name}; keep it secret):");
            println!("{token}");
        }
        UserAction::Remove(name) => {
            let removed = accounts::remove(book.as_mut(), name)?;
            println!("Account {removed} removed; running servers close its desks within a second.");
        }
        UserAction::List => {
            let accounts = accounts::list(book.as_mut())?;
            if accounts.is_empty() {
                println!("No accounts in {}.", book.place());
            }
            for account in accounts {
                println!("{}  (added {})", account.name, account.created);
            }
        }
    }
    Ok(())
}
