//! The `rekall-policy` command line: one module per verb, each a thin layer over the library.
//!
//! The verbs print with `print!`, `println!`, `eprint!` and `eprintln!` as usual, but these are
//! the macros below, which shadow std's for every module declared after them: they write
//! through `output`, so that a closed pipe ends any verb quietly instead of with a panic.

macro_rules! print {
    ($($arg:tt)*) => { $crate::cli::output::out(format_args!($($arg)*)) };
}
macro_rules! println {
    () => { $crate::cli::output::out(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::cli::output::out_line(format_args!($($arg)*)) };
}
macro_rules! eprint {
    ($($arg:tt)*) => { $crate::cli::output::err(format_args!($($arg)*)) };
}
macro_rules! eprintln {
    () => { $crate::cli::output::err(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::cli::output::err_line(format_args!($($arg)*)) };
}

mod output;

mod approvals;
mod bench;
mod check;
mod color;
mod diff;
mod docs;
mod eval;
mod executions;
mod explain;
mod fmt;
mod input;
mod line_diff;
mod lint;
mod preferences;
mod runtime_cli;
mod serve;
mod simulate;
mod store;
mod test;
mod thresholds;
mod token;
mod untrusted;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

/// Policy engine for human-in-the-loop gates on AI agents.
#[derive(Debug, Parser)]
#[command(name = "rekall-policy", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    /// When to colour the output: on a terminal (auto, unless NO_COLOR is set), always, or
    /// never.
    #[arg(long, value_enum, global = true, default_value_t = color::When::Auto)]
    color: color::When,
    #[command(subcommand)]
    command: Command,
}

/// The exit codes, under the top-level help (and in the README's table).
const EXIT_CODES: &str = "Exit codes: 0 success; 1 the command ran and found what it checks for \
(a failed test, a refused request, `--fail-on`, `--deny warnings`, `fmt --check`, \
`diff --fail-on-looser`, a NEW that `diff --stricter` cannot show to be at least as strict, \
a refused vote); 2 an invalid policy or test file, unreadable input, \
bad usage, or output cut short.";

/// The command line's definition, for the shell completions, the man page and tests.
pub fn command() -> clap::Command {
    Cli::command()
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Approval requests: list them, approve or reject as a principal. Whoever can write the
    /// store file can vote as anyone: this is an operator's tool, not authentication.
    Approvals(approvals::Args),
    /// Time the reference evaluator, the compiled policy and a hash-lookup floor.
    Bench(bench::Args),
    /// Validate policy files; print every error with its line and column.
    Check(check::Args),
    /// Compare two versions of a policy over a log of requests, looser decisions first; or,
    /// with `--stricter`, decide whether the new one is at least as strict on every request.
    Diff(diff::Args),
    /// Decide one request, or a JSON Lines file of them.
    Eval(eval::Args),
    /// Executions of agents: list them, show one with its requests and audit log.
    Executions(executions::Args),
    /// Trace a decision rule by rule: what matched, what did not and why.
    Explain(explain::Args),
    /// Warn about rules that can never fire, band gaps and other surprises.
    Lint(lint::Args),
    /// Suggested preferences: corrections and feedback repeated on one action, listed for a
    /// person to decide on; never applied.
    Preferences(preferences::Args),
    /// Print valid policies in canonical form, in YAML or the DSL; `--check` for CI. An invalid
    /// policy is refused with the errors `check` gives (exit 1).
    Fmt(fmt::Args),
    /// Run the learning loop against synthetic agents whose truth is known, next to two rules
    /// of thumb, and check its guarantee.
    Simulate(simulate::Args),
    /// The runtime over HTTP: executions, approvals, feedback and decisions for agents and
    /// approvers, authenticated by bearer tokens.
    Serve(serve::Args),
    /// The runtime's store: migrate it to this program's schema.
    Store(store::Args),
    /// Run policy unit tests (`*.test.yaml`).
    Test(test::Args),
    /// Tokens for `serve`: make one, and the configuration line holding its hash.
    Token(token::Args),
    /// The thresholds adaptive rules learned: show them, accept or reject proposals, reset
    /// them, read their history.
    Thresholds(thresholds::Args),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) to standard
    /// output.
    Completions(docs::CompletionsArgs),
    /// Print the man page (roff) to standard output.
    Man(docs::ManArgs),
}

/// How a verb prints its results: for people, or as JSON for tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    #[default]
    Text,
    Json,
}

/// Exit codes shared by the verbs.
pub(crate) mod exit {
    /// Everything held.
    pub const OK: u8 = 0;
    /// The command ran, and found what it checks for (a failed test, a refused request, a
    /// decision `--fail-on` names, a warning under `--deny warnings`).
    pub const FOUND: u8 = 1;
    /// The command could not do its job (unreadable input, bad usage, output cut short).
    pub const TOOL: u8 = 2;
    /// An invalid policy (or test file), whatever the verb, `check` included: one code, so
    /// that a script can tell it from a refused request or a failed test.
    pub const INVALID: u8 = 2;
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    color::init(cli.color);
    let code = match cli.command {
        Command::Approvals(args) => approvals::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Check(args) => check::run(&args),
        Command::Diff(args) => diff::run(&args),
        Command::Eval(args) => eval::run(&args),
        Command::Executions(args) => executions::run(&args),
        Command::Explain(args) => explain::run(&args),
        Command::Fmt(args) => fmt::run(&args),
        Command::Lint(args) => lint::run(&args),
        Command::Preferences(args) => preferences::run(&args),
        Command::Simulate(args) => simulate::run(&args),
        Command::Serve(args) => serve::run(&args),
        Command::Store(args) => store::run(&args),
        Command::Test(args) => test::run(&args),
        Command::Thresholds(args) => thresholds::run(&args),
        Command::Token(args) => token::run(&args),
        Command::Completions(args) => docs::completions(&args),
        Command::Man(args) => docs::man(&args),
    };
    ExitCode::from(code)
}

/// Loads a policy for a verb that needs a valid one: on errors, prints them and gives the exit
/// code for "no decisions from an invalid policy".
pub(crate) fn load_policy(path: &std::path::Path) -> Result<crate::Policy, u8> {
    input::read_policy(path).map_err(|e| {
        eprint!("{}", color::diagnostics_err(&e.render()));
        let n = e.diagnostics.len();
        eprintln!(
            "{}: {n} error{}; no decisions from an invalid policy",
            e.source.origin,
            if n == 1 { "" } else { "s" }
        );
        exit::INVALID
    })
}

/// Test files sit beside policies and share their extension, so `policies/*.yaml` names both.
/// Verbs that take policies skip them, saying so, instead of reporting them as broken policies.
pub(crate) fn skip_test_file(path: &std::path::Path) -> bool {
    let is_test = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(crate::testing::SUFFIX));
    if is_test {
        eprintln!(
            "{}: skipped: a policy test file (run it with `rekall-policy test`)",
            path.display()
        );
    }
    is_test
}

/// A request from the `--action`, `--resource`, `--confidence` and `--context` flags; a bad
/// flag is refused naming its field, as a bad JSON request is.
pub(crate) fn request_from_flags(
    action: &str,
    resource: Option<&str>,
    confidence: Option<&str>,
    context: Option<&str>,
) -> Result<crate::Request, crate::RequestError> {
    use crate::RequestError;
    let mut request = crate::Request::new(action);
    request.resource = resource.unwrap_or_default().to_owned();
    if let Some(text) = confidence {
        let c: f64 = text.trim().parse().map_err(|_| {
            RequestError::new(
                "confidence",
                format!("`{text}` is not a number; give a number between 0 and 1"),
            )
        })?;
        request.confidence = Some(c);
    }
    if let Some(text) = context {
        request.context = crate::json::parse(text)
            .map_err(|e| RequestError::new("context", format!("is not valid JSON: {e}")))?;
    }
    Ok(request)
}
