//! What the runtime verbs (`executions`, `approvals`) share: opening the store, running the
//! async runtime API from a command, output formats.

use std::future::Future;

use serde::Serialize;

pub use super::Format;
use super::exit;
use crate::runtime::{Runtime, RuntimeError};

/// Opens an existing store as a runtime that only acts when asked: no background loop, so a
/// command never delivers the agent's notifications; deadlines already passed are handled.
pub async fn open(url: &str) -> Result<Runtime, RuntimeError> {
    let store = crate::store::open_existing(url).await?;
    Runtime::builder()
        .store(store)
        .background(false)
        .build()
        .await
}

/// Runs a verb's async body on a small tokio runtime; errors print and exit with 2.
pub fn block_on<F, Fut>(url: &str, body: F) -> u8
where
    F: FnOnce(Runtime) -> Fut,
    Fut: Future<Output = Result<u8, RuntimeError>>,
{
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
    tokio.block_on(async {
        let rt = match open(url).await {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("error: {e}");
                return exit::TOOL;
            }
        };
        match body(rt).await {
            Ok(code) => code,
            Err(e) => {
                eprintln!("error: {e}");
                exit::TOOL
            }
        }
    })
}

pub fn print_json<T: Serialize>(value: &T) {
    match serde_json::to_string(value) {
        Ok(line) => println!("{line}"),
        Err(e) => eprintln!("error: cannot write JSON: {e}"),
    }
}
