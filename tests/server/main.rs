//! `rekall-policy serve` end to end: the real binary on 127.0.0.1 with a temp SQLite store,
//! asked over real sockets. One test binary, so it links once.

mod answers;
mod cluster;
mod crash;
mod errors;
mod flows;
mod idempotency;
mod inbox;
mod lifecycle;
mod limits;
mod metrics;
mod notify;
mod openapi;
mod policy;
#[path = "../support/postgres.rs"]
mod postgres;
mod roles;
mod support;
