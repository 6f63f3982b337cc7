//! `rekall-policy token new --principal P --role R`: a fresh random token, printed once, and
//! the configuration line that holds its SHA-256 (the server never stores the token itself).

use clap::Subcommand;

use super::exit;
use crate::ir::Principal;
use crate::server::auth::{self, Role};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(Debug, Subcommand)]
enum Sub {
    /// Make a token: prints the token (keep it; it is not shown again) and the line for the
    /// server configuration's `tokens:`.
    New {
        /// Whom the token stands for, such as user:adam or agent:deploy-bot.
        #[arg(long)]
        principal: String,
        /// agent, approver or admin.
        #[arg(long)]
        role: String,
    },
}

pub fn run(args: &Args) -> u8 {
    let Sub::New { principal, role } = &args.command;
    let Some(principal) = Principal::parse(principal) else {
        eprintln!(
            "error: --principal: `{principal}` is not a principal of the form `kind:name`, such as user:adam"
        );
        return exit::TOOL;
    };
    let role: Role = match role.parse() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: --role: {e}");
            return exit::TOOL;
        }
    };
    let token = match auth::new_token() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::TOOL;
        }
    };
    println!("token: {token}");
    println!("# under `tokens:` in the server configuration:");
    println!("{}", auth::config_line(&principal, role, &token));
    exit::OK
}
