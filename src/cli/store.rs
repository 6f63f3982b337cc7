//! `rekall-policy store migrate --store URL`: brings a store to this program's schema, the
//! one change that the reading verbs (`approvals list`, `executions list|show`) never make.

use clap::Subcommand;

use super::exit;
use crate::store::{StoreUrl, postgres, sqlite};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(Debug, Subcommand)]
enum Sub {
    /// Migrate a store to this program's schema. A missing or empty (0-byte) file named here
    /// becomes a new store; a database that is not a rekall store is refused unchanged.
    Migrate {
        /// The store: sqlite://PATH or postgres://USER@HOST/DATABASE.
        #[arg(long, value_name = "URL")]
        store: String,
    },
}

pub fn run(args: &Args) -> u8 {
    let Sub::Migrate { store } = &args.command;
    let path = match StoreUrl::parse(store) {
        Ok(StoreUrl::Sqlite(path)) => path,
        Ok(StoreUrl::Postgres(url)) => return migrate_postgres(&url),
        Ok(StoreUrl::SqliteMemory) => {
            eprintln!("error: --store: a private in-memory store has nothing to migrate");
            return exit::TOOL;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return exit::TOOL;
        }
    };
    match sqlite::migrate_file(&path) {
        Ok(done) => {
            let path = path.display();
            match done.from {
                None => println!("{path}: new store at schema version {}", done.to),
                Some(v) if v == done.to => println!("{path}: already at schema version {v}"),
                Some(v) => println!("{path}: migrated from schema version {v} to {}", done.to),
            }
            exit::OK
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::TOOL
        }
    }
}

/// `store migrate` of a PostgreSQL database: the same, on a runtime of its own.
fn migrate_postgres(url: &crate::store::PostgresUrl) -> u8 {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::TOOL;
        }
    };
    let shown = url.masked();
    match runtime.block_on(postgres::migrate(url)) {
        Ok(done) => {
            match done.from {
                None => println!("{shown}: new store at schema version {}", done.to),
                Some(v) if v == done.to => println!("{shown}: already at schema version {v}"),
                Some(v) => println!("{shown}: migrated from schema version {v} to {}", done.to),
            }
            exit::OK
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::TOOL
        }
    }
}
