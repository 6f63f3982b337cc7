//! `rekall-policy serve`: the runtime over HTTP. With no configuration, `serve --policy FILE`
//! listens on 127.0.0.1:8080 with a store in the working folder and prints an admin token for
//! the run; `--config FILE` reads the server's configuration, and the flags override it.

use std::path::PathBuf;

use super::exit;
use crate::server::config::{Config, Overrides};
use crate::server::{Bound, RUN_ADMIN, stop_signal};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The server's configuration file (YAML).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The address and port to listen on, such as 127.0.0.1:8080 (port 0: any free port).
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// The store: sqlite://PATH.
    #[arg(long, value_name = "URL")]
    store: Option<String>,
    /// The policy to put in force.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
}

pub fn run(args: &Args) -> u8 {
    let mut config = match &args.config {
        Some(path) => match Config::load(path) {
            Ok(c) => c,
            Err(e) => {
                eprint!("{e}");
                let n = e.problems.len();
                eprintln!(
                    "{}: {n} error{} in the server configuration",
                    path.display(),
                    if n == 1 { "" } else { "s" }
                );
                return exit::INVALID;
            }
        },
        None => Config::default(),
    };
    let overrides = Overrides {
        listen: args.listen.clone(),
        store: args.store.clone(),
        policy: args.policy.clone(),
    };
    if let Err(e) = config.apply(&overrides) {
        eprintln!("error: {e}");
        return exit::TOOL;
    }
    let tokio = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::TOOL;
        }
    };
    tokio.block_on(async {
        let bound = match Bound::new(config).await {
            Ok(b) => b,
            Err(e) => {
                eprint!("{e}");
                if !e.to_string().ends_with('\n') {
                    eprintln!();
                }
                return exit::INVALID;
            }
        };
        match bound.local_addr() {
            Ok(addr) => println!("rekall-policy serve: listening on http://{addr}"),
            Err(e) => {
                eprintln!("error: {e}");
                return exit::TOOL;
            }
        }
        for note in &bound.notes {
            eprintln!("rekall-policy serve: {note}");
        }
        if let Some(token) = &bound.run_token {
            println!("admin token for this run ({RUN_ADMIN}; no tokens are configured): {token}");
        }
        match bound.run(stop_signal()).await {
            Ok(()) => {
                eprintln!("rekall-policy serve: stopped");
                exit::OK
            }
            Err(e) => {
                eprintln!("error: {e}");
                exit::TOOL
            }
        }
    })
}
