//! The README, run: every fenced block is extracted and checked, so that what a new user
//! copies from it works as shown.
//!
//! - `console` blocks: each `$ COMMAND` runs through `sh` (so globs, pipes and comments work
//!   as in a terminal), in order and in one scratch folder that sees the repository's
//!   `policies/` and `examples/`, with `rekall-policy` on the `PATH`. It must exit 0, or N when
//!   its comment says `# exit N`. The lines after it, when there are any, are its standard
//!   output: a line `...` stands for any lines, `...` in a line for any text, and `apr_...` /
//!   `exe_...` for any request or execution id. Those placeholders in a command are the ids the commands before it printed.
//!   A command naming `$REKALL_URL` talks to a server that the first such command starts
//!   (`serve --config` with the tokens of `agent:deploy-bot` and `user:adam` in
//!   `$AGENT_TOKEN` and `$ADAM_TOKEN`), as the README's curl session says to.
//! - `sh` blocks: `cargo run --release -- ARGS` runs the binary with ARGS; `fuzz/run TARGET
//!   SECONDS` must name a real fuzz target and an executable script (fuzzing for minutes is
//!   the fuzz job's, not the test suite's); `cargo test` is this suite itself, and `.ci/run`
//!   must be an executable script that runs it.
//! - `yaml` and `rkl` blocks: equal to the file the paragraph before them names, or else a
//!   valid policy (or, with `cases:`, a policy test file that passes against `policies/`).
//! - `text` blocks: only the kinds listed in [`TEXT_BLOCKS`], each with the check that stands
//!   in for running it.
//! - `rust` blocks: compiled and run as doc-tests (`src/lib.rs` includes the README).
//! - `ts` and `python` blocks: line for line (indentation aside) in one of the client's
//!   examples, which its own tests run.
//! - Inline `rekall-policy VERB --flag` spans must name real verbs and flags.

use std::path::{Path, PathBuf};
use std::process::Command;

const README: &str = include_str!("../../README.md");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_rekall-policy"))
}

#[derive(Debug)]
struct Block {
    tag: String,
    body: String,
    /// 1-based line of the opening fence.
    line: usize,
    /// The paragraph just before the block.
    before: String,
}

fn blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate();
    let mut paragraph: Vec<&str> = Vec::new();
    while let Some((i, line)) = lines.next() {
        if let Some(tag) = line.strip_prefix("```") {
            let mut body = String::new();
            for (_, inner) in lines.by_ref() {
                if inner.starts_with("```") {
                    break;
                }
                body.push_str(inner);
                body.push('\n');
            }
            out.push(Block {
                tag: tag.trim().to_owned(),
                body,
                line: i + 1,
                before: paragraph.join("\n"),
            });
            paragraph.clear();
        } else if line.trim().is_empty() {
            paragraph.clear();
        } else {
            paragraph.push(line);
        }
    }
    out
}

/// Text blocks that are not run, with why and what is checked instead.
const TEXT_BLOCKS: &[(&str, &str)] = &[
    // `bench` needs the release build and minutes of timing on an idle machine; its table is
    // a measurement, not an output to reproduce. Checked: the flags the README gives it.
    ("policy      rules", "bench --generate"),
    ("shape          rules", "bench --adversarial"),
    // Five hundred runs of four scenarios take half a minute in a release build: the table is
    // a measurement. Checked: the flags the README gives `simulate`.
    ("scenario       method", "simulate --runs --seed"),
    // The server's throughput and round trips need the release build and an idle machine.
    ("endpoint               clients", "bench --http"),
    // Several nodes on PostgreSQL, for ten seconds a run: a measurement too. Checked: the
    // flags the README gives `bench`.
    (
        "endpoint                   clients",
        "bench --cluster --store --nodes --seconds",
    ),
];

fn run_help(verb: &str) -> String {
    let out = Command::new(bin()).args([verb, "--help"]).output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

/// A scratch folder that sees the repository's fixtures, for commands that write (stores).
struct Scratch {
    dir: tempfile::TempDir,
    approval: Option<String>,
    execution: Option<String>,
    /// The server that console blocks naming `$REKALL_URL` talk to, started for the first.
    server: Option<Server>,
}

/// `rekall-policy serve` as the README's curl session starts it: a configuration with an
/// agent's and an approver's token, a store in the scratch folder, a port the system chose.
struct Server {
    child: std::process::Child,
    env: Vec<(&'static str, String)>,
}

impl Server {
    fn start(dir: &Path) -> Server {
        let token = |principal: &str, role: &str| {
            let out = Command::new(bin())
                .args(["token", "new", "--principal", principal, "--role", role])
                .output()
                .unwrap();
            assert!(out.status.success(), "token new: {out:?}");
            let text = String::from_utf8(out.stdout).unwrap();
            let token = text
                .lines()
                .find_map(|l| l.strip_prefix("token: "))
                .unwrap()
                .to_owned();
            let line = text
                .lines()
                .find(|l| l.trim_start().starts_with("- {principal"))
                .unwrap()
                .to_owned();
            (token, line)
        };
        let (agent, agent_line) = token("agent:deploy-bot", "agent");
        let (adam, adam_line) = token("user:adam", "approver");
        let config = format!(
            "listen: 127.0.0.1:0\nstore: sqlite://rekall.db\npolicy: policies/seed.yaml\nlogChannels: [email, slack]\ntokens:\n{agent_line}\n{adam_line}\n"
        );
        std::fs::write(dir.join("rekall-server.yaml"), config).unwrap();
        let mut child = Command::new(bin())
            .args(["serve", "--config", "rekall-server.yaml"])
            .current_dir(dir)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).unwrap();
        let url = line
            .trim()
            .strip_prefix("rekall-policy serve: listening on ")
            .unwrap_or_else(|| panic!("serve printed {line:?}"))
            .to_owned();
        Server {
            child,
            env: vec![
                ("REKALL_URL", url),
                ("AGENT_TOKEN", agent),
                ("ADAM_TOKEN", adam),
            ],
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Scratch {
    fn new() -> Scratch {
        let dir = tempfile::tempdir().unwrap();
        for name in ["policies", "examples"] {
            std::os::unix::fs::symlink(root().join(name), dir.path().join(name)).unwrap();
        }
        Scratch {
            dir,
            approval: None,
            execution: None,
            server: None,
        }
    }

    fn path_var() -> String {
        let bin_dir = bin().parent().unwrap().to_path_buf();
        format!(
            "{}:{}",
            bin_dir.display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }

    /// Runs one console command, returning (exit code, stdout, stderr).
    fn run(&mut self, command: &str) -> (i32, String, String) {
        let mut command = command.to_owned();
        for (placeholder, id) in [("apr_...", &self.approval), ("exe_...", &self.execution)] {
            if command.contains(placeholder) {
                let id = id
                    .as_ref()
                    .unwrap_or_else(|| panic!("`{command}` needs an id no command printed yet"));
                command = command.replace(placeholder, id);
            }
        }
        if command.contains("$REKALL_URL") && self.server.is_none() {
            self.server = Some(Server::start(self.dir.path()));
        }
        let mut sh = Command::new("sh");
        sh.arg("-c")
            .arg(&command)
            .current_dir(self.dir.path())
            .env("PATH", Self::path_var())
            .env_remove("NO_COLOR");
        for (name, value) in self.server.iter().flat_map(|s| &s.env) {
            sh.env(name, value);
        }
        let out = sh.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let apr = regex::Regex::new(r"\bapr_[0-9a-z]{32}\b").unwrap();
        let exe = regex::Regex::new(r"\bexe_[0-9a-z]{32}\b").unwrap();
        for text in [&stdout, &stderr] {
            if let Some(m) = apr.find_iter(text).last() {
                self.approval = Some(m.as_str().to_owned());
            }
            if let Some(m) = exe.find_iter(text).last() {
                self.execution = Some(m.as_str().to_owned());
            }
        }
        (out.status.code().unwrap_or(-1), stdout, stderr)
    }
}

/// The exit code a console command's comment promises (`# exit N`), else 0.
fn expected_code(command: &str) -> i32 {
    let re = regex::Regex::new(r"#\s*exit (\d)").unwrap();
    re.captures(command).map_or(0, |c| c[1].parse().unwrap())
}

/// Whether an actual line is what the README shows, placeholders included.
fn line_matches(expected: &str, actual: &str) -> bool {
    let expected = expected.trim_end();
    let actual = actual.trim_end();
    if !expected.contains("...") {
        return expected == actual;
    }
    let pattern = regex::escape(expected)
        .replace(r"apr_\.\.\.", "apr_[0-9a-z]{32}")
        .replace(r"exe_\.\.\.", "exe_[0-9a-z]{32}")
        .replace(r"\.\.\.", ".*");
    regex::Regex::new(&format!("^{pattern}$"))
        .unwrap()
        .is_match(actual)
}

/// Whether the actual lines are the expected ones, `...` standing for any run of lines.
fn lines_match(expected: &[&str], actual: &[&str]) -> bool {
    match expected.split_first() {
        None => actual.is_empty(),
        Some((first, rest)) if first.trim() == "..." => {
            (0..=actual.len()).any(|skip| lines_match(rest, &actual[skip..]))
        }
        Some((first, rest)) => match actual.split_first() {
            Some((a, more)) => line_matches(first, a) && lines_match(rest, more),
            None => false,
        },
    }
}

/// The `$ COMMAND` lines of a console block, each with the output lines shown after it.
fn commands(body: &str) -> Vec<(String, Vec<&str>)> {
    let mut out: Vec<(String, Vec<&str>)> = Vec::new();
    for line in body.lines() {
        if let Some(command) = line.strip_prefix("$ ") {
            out.push((command.to_owned(), Vec::new()));
        } else if let Some((_, shown)) = out.last_mut() {
            shown.push(line);
        } else if !line.trim().is_empty() {
            panic!("output before any command: {line}");
        }
    }
    for (_, shown) in &mut out {
        while shown.last().is_some_and(|l| l.trim().is_empty()) {
            shown.pop();
        }
    }
    out
}

fn check_console(block: &Block, scratch: &mut Scratch) {
    for (command, shown) in commands(&block.body) {
        let (code, stdout, stderr) = scratch.run(&command);
        let want = expected_code(&command);
        assert_eq!(
            code, want,
            "README line {}: `{command}` exited {code}, the README says {want}\nstdout:\n{stdout}\nstderr:\n{stderr}",
            block.line
        );
        if !shown.is_empty() {
            let actual: Vec<&str> = stdout.lines().collect();
            assert!(
                lines_match(&shown, &actual),
                "README line {}: `{command}` printed\n{stdout}\nwhere the README shows\n{}",
                block.line,
                shown.join("\n")
            );
        }
    }
}

fn check_sh(block: &Block) {
    for command in block.body.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(args) = command.strip_prefix("cargo run --release -- ") {
            let out = Command::new(bin())
                .args(args.split_whitespace())
                .current_dir(root())
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "README line {}: `{command}` failed:\n{}{}",
                block.line,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        } else if command == "cargo test" {
            // This suite itself.
        } else if command == ".ci/run" {
            // CI's entry point, which runs this suite: it must exist, be executable and run
            // `cargo test` (running it from here would run this test again).
            let script = root().join(".ci/run");
            let mode = std::fs::metadata(&script).unwrap();
            assert!(
                std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o111 != 0,
                ".ci/run is executable"
            );
            let text = std::fs::read_to_string(&script).unwrap();
            assert!(
                text.lines().any(|l| l.trim() == "cargo test"),
                ".ci/run runs `cargo test`"
            );
        } else if let Some(rest) = command.strip_prefix("fuzz/run ") {
            let mut words = rest.split_whitespace();
            let target = words.next().unwrap();
            let seconds: u32 = words.next().unwrap().parse().unwrap();
            assert!(seconds > 0);
            let script = root().join("fuzz/run");
            let mode = std::fs::metadata(&script).unwrap();
            assert!(
                std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o111 != 0,
                "fuzz/run is executable"
            );
            let manifest = std::fs::read_to_string(root().join("fuzz/Cargo.toml")).unwrap();
            assert!(
                manifest.contains(&format!("name = \"{target}\"")),
                "README line {}: `{target}` is a fuzz target",
                block.line
            );
        } else {
            panic!(
                "README line {}: no check for the sh command `{command}`; add one to tests/cli/readme.rs",
                block.line
            );
        }
    }
}

/// The repository file a paragraph names for the block after it, if any.
fn named_file(before: &str, extension: &str) -> Option<PathBuf> {
    let re = regex::Regex::new(r"`((?:policies|examples)/[A-Za-z0-9_./-]+)`").unwrap();
    re.captures_iter(before)
        .map(|c| c[1].to_owned())
        .find(|p| p.ends_with(extension))
        .map(|p| root().join(p))
}

fn run_with_stdin(args: &[&str], dir: &Path, input: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new(bin())
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn check_policy_block(block: &Block, extension: &str) {
    if let Some(file) = named_file(&block.before, extension) {
        let text = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("README line {}: {}: {e}", block.line, file.display()));
        assert_eq!(
            block.body,
            text,
            "README line {}: the block is not {}",
            block.line,
            file.display()
        );
        return;
    }
    if extension == ".yaml" && block.body.contains("\ncases:") {
        // A policy test file: run it beside the policies it names.
        let dir = tempfile::tempdir().unwrap();
        for entry in std::fs::read_dir(root().join("policies")).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
        }
        let test = dir.path().join("readme.test.yaml");
        std::fs::write(&test, &block.body).unwrap();
        let out = Command::new(bin()).arg("test").arg(&test).output().unwrap();
        assert!(
            out.status.success(),
            "README line {}: the test file fails:\n{}{}",
            block.line,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    let out = run_with_stdin(&["check", "-"], &root(), &block.body);
    assert!(
        out.status.success(),
        "README line {}: the policy is invalid:\n{}",
        block.line,
        String::from_utf8_lossy(&out.stdout)
    );
}

fn check_text(block: &Block) {
    let first = block.body.lines().next().unwrap_or_default();
    let Some((_, what)) = TEXT_BLOCKS.iter().find(|(head, _)| first.starts_with(head)) else {
        panic!(
            "README line {}: a `text` block that nothing checks (make it a `console` block with its command, or list it in TEXT_BLOCKS with why): {first}",
            block.line
        );
    };
    let mut words = what.split_whitespace();
    let verb = words.next().unwrap_or_default();
    let help = run_help(verb);
    for flag in words {
        assert!(help.contains(flag), "{verb} has {flag}");
    }
}

/// A client's code in the README is a piece of one of its examples, word for word: the
/// examples are what the client's own tests run against `serve` (`.ci/client-typescript`,
/// `.ci/client-python`).
fn check_client_block(block: &Block, examples: &str) {
    let dir = root().join(examples);
    let found = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|entry| std::fs::read_to_string(entry.ok()?.path()).ok())
        .any(|text| holds_lines(&text, &block.body));
    assert!(
        found,
        "README line {}: this block is in none of the files of {examples}",
        block.line
    );
}

/// Whether `text` holds the lines of `piece` one after another, each as written but for the
/// indentation (a snippet may be shown out of the function that holds it).
fn holds_lines(text: &str, piece: &str) -> bool {
    let want: Vec<&str> = piece.lines().map(str::trim).collect();
    let have: Vec<&str> = text.lines().map(str::trim).collect();
    !want.is_empty() && have.windows(want.len()).any(|w| w == want.as_slice())
}

#[test]
fn every_fenced_block_of_the_readme_works_as_shown() {
    let all = blocks(README);
    assert!(all.len() > 10, "the README's blocks are found");
    let mut scratch = Scratch::new();
    let mut checked = 0;
    for block in &all {
        match block.tag.as_str() {
            "console" => check_console(block, &mut scratch),
            "sh" => check_sh(block),
            "yaml" => check_policy_block(block, ".yaml"),
            "rkl" => check_policy_block(block, ".rkl"),
            "text" => check_text(block),
            "ts" => check_client_block(block, "clients/typescript/examples"),
            "python" => check_client_block(block, "clients/python/examples"),
            // Doc-tests run these; see the test below.
            "rust" | "rust,no_run" => {}
            other => panic!(
                "README line {}: no check for a `{other}` block; add one to tests/cli/readme.rs",
                block.line
            ),
        }
        checked += 1;
    }
    assert_eq!(checked, all.len());
}

#[test]
fn the_readmes_rust_blocks_are_doc_tests() {
    let lib = std::fs::read_to_string(root().join("src/lib.rs")).unwrap();
    assert!(
        lib.contains("#[doc = include_str!(\"../README.md\")]"),
        "src/lib.rs includes the README as doc-tests"
    );
    assert!(
        !README.contains("```rust,ignore"),
        "an ignored Rust block would not be checked"
    );
}

/// The verb path and the `--flags` of an inline `rekall-policy ...` span.
fn inline_commands(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_fence = false;
    for line in text.lines() {
        if line.starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        for (i, span) in line.split('`').enumerate() {
            if i % 2 == 1 && span.starts_with("rekall-policy ") {
                out.push(span.to_owned());
            }
        }
    }
    out
}

#[test]
fn inline_commands_name_real_verbs_and_flags() {
    let spans = inline_commands(README);
    assert!(spans.len() > 5, "inline commands are found: {spans:?}");
    for span in spans {
        let mut command = rekall_policy::cli::command();
        let mut words = span.split_whitespace().skip(1).peekable();
        // Descend through the subcommands named.
        while let Some(word) = words.peek() {
            match command.find_subcommand(word) {
                Some(sub) => {
                    command = sub.clone();
                    words.next();
                }
                None => break,
            }
        }
        assert_ne!(command.get_name(), "rekall-policy", "`{span}` names a verb");
        for word in words.filter(|w| w.starts_with("--")) {
            let name = word
                .trim_start_matches("--")
                .split(['=', '|', ']', ')', ','])
                .next()
                .unwrap();
            let known = command.get_arguments().any(|a| a.get_long() == Some(name))
                || ["help", "color", "version"].contains(&name);
            assert!(
                known,
                "`{span}`: `{}` has no `--{name}`",
                command.get_name()
            );
        }
    }
}

#[test]
fn inline_examples_exist() {
    let re = regex::Regex::new(r"cargo run (?:--release )?--example ([a-z_]+)").unwrap();
    let mut found = 0;
    for c in re.captures_iter(README) {
        let path = root().join("examples").join(format!("{}.rs", &c[1]));
        assert!(path.exists(), "{} exists", path.display());
        found += 1;
    }
    assert!(found > 0);
}
