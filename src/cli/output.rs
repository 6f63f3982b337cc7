//! Where every verb's output goes. Standard output is often a pipe that the reader closes
//! early (`rekall-policy lint | head`); std's `print!` panics then. The `print!` and `println!`
//! this module backs (defined in `cli/mod.rs`, shadowing std's for every verb) end the process
//! quietly instead, with [`exit::TOOL`](super::exit::TOOL): the command could not finish, and a
//! pipeline with `pipefail` must not take a cut-short `lint --deny warnings` for a clean one.

use std::fmt;
use std::io::{self, Write};

use super::exit;

/// Writes to standard output, or ends the process if it cannot be written.
pub(crate) fn out(args: fmt::Arguments<'_>) {
    if let Err(e) = io::stdout().lock().write_fmt(args) {
        stopped(&e);
    }
}

/// Writes a line to standard output, or ends the process if it cannot be written.
pub(crate) fn out_line(args: fmt::Arguments<'_>) {
    let mut stdout = io::stdout().lock();
    if let Err(e) = stdout
        .write_fmt(args)
        .and_then(|()| stdout.write_all(b"\n"))
    {
        stopped(&e);
    }
}

/// Writes to standard error. When even that fails there is nobody left to tell.
pub(crate) fn err(args: fmt::Arguments<'_>) {
    let _ = io::stderr().lock().write_fmt(args);
}

/// Writes a line to standard error, as [`err`].
pub(crate) fn err_line(args: fmt::Arguments<'_>) {
    let mut stderr = io::stderr().lock();
    let _ = stderr
        .write_fmt(args)
        .and_then(|()| stderr.write_all(b"\n"));
}

/// Ends the process after standard output failed: quietly when its reader has gone (a closed
/// pipe), with the reason otherwise (a full disk).
pub(crate) fn stopped(e: &io::Error) -> ! {
    if e.kind() != io::ErrorKind::BrokenPipe {
        err_line(format_args!("error: cannot write to standard output: {e}"));
    }
    std::process::exit(i32::from(exit::TOOL))
}
