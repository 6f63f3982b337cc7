//! `rekall-policy fmt FILE... [--to yaml|dsl] [--check] [--write]`

use std::path::{Path, PathBuf};

use super::{exit, input};
use crate::Policy;
use crate::diagnostic::PolicyError;
use crate::front::Language;
use crate::print;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Policy files (`.yaml`/`.yml` or `.rkl`), or `-` for standard input.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// The language to print; by default each file's own.
    #[arg(long, value_enum)]
    to: Option<Target>,
    /// Write nothing; print a diff of what `--write` would change, and exit 1 when a file is
    /// not in canonical form (with `--to`, when the file of the other language beside it is
    /// not the canonical conversion).
    #[arg(long, conflicts_with = "write")]
    check: bool,
    /// Write the canonical form: in place, or with `--to`, to the file of the same name with
    /// the other extension.
    #[arg(long)]
    write: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Target {
    Yaml,
    Dsl,
}

impl Target {
    fn language(self) -> Language {
        match self {
            Target::Yaml => Language::Yaml,
            Target::Dsl => Language::Dsl,
        }
    }
}

/// Reads and validates a policy: `fmt` prints only what `check` accepts, since the canonical
/// form of an invalid policy would look like a policy that works.
fn read(path: &Path) -> Result<(Policy, Language), PolicyError> {
    let text = input::read_text(path)?;
    let policy = Policy::from_str_in(text.language, &text.source.text, &text.source.origin)?;
    Ok((policy, text.language))
}

/// Where the canonical text of `path` (written in `own`) in `language` belongs.
fn destination(path: &Path, own: Language, language: Language) -> PathBuf {
    if own == language {
        return path.to_path_buf();
    }
    path.with_extension(match language {
        Language::Yaml => "yaml",
        Language::Dsl => "rkl",
    })
}

pub fn run(args: &Args) -> u8 {
    if let Err(e) = input::one_stdin(args.files.iter().map(PathBuf::as_path)) {
        eprintln!("error: {e}");
        return exit::TOOL;
    }
    if args.write && args.files.iter().any(|f| input::is_stdin(f)) {
        eprintln!(
            "error: --write: standard input has no file to write; leave out --write to print"
        );
        return exit::TOOL;
    }
    let mut unformatted = 0;
    let mut invalid = 0;
    let mut broken = 0;
    for path in &args.files {
        if super::skip_test_file(path) {
            continue;
        }
        let (policy, own) = match read(path) {
            Ok(read) => read,
            Err(e) => {
                eprint!("{}", super::color::diagnostics_err(&e.render()));
                let n = e.diagnostics.len();
                eprintln!(
                    "{}: {n} error{}; not formatted",
                    e.source.origin,
                    if n == 1 { "" } else { "s" }
                );
                invalid += 1;
                continue;
            }
        };
        let language = args.to.map_or(own, Target::language);
        let canonical = print::print(policy.doc(), language);
        let target = destination(path, own, language);
        if args.check {
            // The file as it is on disk: a byte-order mark, which reading skips, is not
            // canonical. Standard input is compared as it came, less the mark.
            let current = if input::is_stdin(&target) {
                Some(policy.source().text.to_string())
            } else {
                std::fs::read_to_string(&target).ok()
            };
            if current.as_deref() != Some(canonical.as_str()) {
                let name = if input::is_stdin(&target) {
                    input::STDIN_NAME.to_owned()
                } else {
                    target.display().to_string()
                };
                println!("{name}: not in canonical form (run `rekall-policy fmt --write`)");
                let shown = current.as_deref().unwrap_or_default();
                let canonical_name = format!("{name} (canonical)");
                if let Some(diff) =
                    super::line_diff::unified(&name, &canonical_name, shown, &canonical)
                {
                    print!("{diff}");
                }
                unformatted += 1;
            }
        } else if args.write {
            if let Err(e) = std::fs::write(&target, &canonical) {
                eprintln!("error: cannot write {}: {e}", target.display());
                broken += 1;
            }
        } else {
            if args.files.len() > 1 {
                println!("==> {} <==", target.display());
            }
            print!("{canonical}");
        }
    }
    if invalid > 0 {
        exit::INVALID
    } else if broken > 0 {
        exit::TOOL
    } else if unformatted > 0 {
        exit::FOUND
    } else {
        exit::OK
    }
}
