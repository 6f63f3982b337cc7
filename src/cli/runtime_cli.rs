//! What the runtime verbs (`executions`, `approvals`, `store`) share: opening the store,
//! running the async runtime API from a command, output formats.
//!
//! A verb that only reads gets the store itself, opened read-only ([`read`]): it never takes
//! a write lock, never migrates, and never handles a passed deadline (the agent's runtime or
//! the next writing command does). A verb that writes gets a [`Runtime`] ([`block_on`]).

use std::future::Future;
use std::sync::Arc;

use serde::Serialize;

pub use super::Format;
use super::exit;
use crate::runtime::{Runtime, RuntimeError};
use crate::store::{self, Store, Versioned};

/// Opens an existing store as a runtime that only acts when asked: no background loop, so a
/// command never delivers the agent's notifications; deadlines already passed are handled.
pub async fn open(url: &str) -> Result<Runtime, RuntimeError> {
    let store = store::open_existing(url).await?;
    Runtime::builder()
        .store(store)
        .background(false)
        .build()
        .await
}

/// Runs a writing verb's async body on a runtime over the store; errors print and exit with 2.
pub fn block_on<F, Fut>(url: &str, body: F) -> u8
where
    F: FnOnce(Runtime) -> Fut,
    Fut: Future<Output = Result<u8, RuntimeError>>,
{
    run_async(async {
        let rt = open(url).await?;
        body(rt).await
    })
}

/// Runs a reading verb's async body on the store opened read-only; errors print and exit
/// with 2.
pub fn read<F, Fut>(url: &str, body: F) -> u8
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = Result<u8, RuntimeError>>,
{
    run_async(async {
        let store = store::open_read_only(url).await?;
        body(store).await
    })
}

/// Runs a verb on a small tokio runtime.
pub fn run_async(body: impl Future<Output = Result<u8, RuntimeError>>) -> u8 {
    let tokio = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::TOOL;
        }
    };
    tokio.block_on(body).unwrap_or_else(|e| {
        eprintln!("error: {e}");
        exit::TOOL
    })
}

pub fn print_json<T: Serialize>(value: &T) {
    match serde_json::to_string(value) {
        Ok(line) => println!("{line}"),
        Err(e) => eprintln!("error: cannot write JSON: {e}"),
    }
}

/// The record a store lookup found, or the error that names what was not there.
pub fn found<T>(
    lookup: Option<Versioned<T>>,
    what: &'static str,
    id: &impl std::fmt::Display,
) -> Result<T, RuntimeError> {
    lookup
        .map(|v| v.record)
        .ok_or_else(|| RuntimeError::NotFound {
            what,
            id: id.to_string(),
        })
}
