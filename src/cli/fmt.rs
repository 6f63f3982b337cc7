//! `rekall-policy fmt FILE... [--to yaml|dsl] [--check] [--write]`

use std::path::{Path, PathBuf};

use super::exit;
use crate::Policy;
use crate::diagnostic::PolicyError;
use crate::front::Language;
use crate::print;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Policy files (`.yaml`/`.yml` or `.rkl`).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// The language to print; by default each file's own.
    #[arg(long, value_enum)]
    to: Option<Target>,
    /// Print nothing; exit 1 when a file is not in canonical form (with `--to`, when the file
    /// of the other language beside it is not the canonical conversion).
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
fn read(path: &Path) -> Result<Policy, PolicyError> {
    Policy::from_path(path)
}

/// Where the canonical text of `path` in `language` belongs.
fn destination(path: &Path, language: Language) -> PathBuf {
    if Language::of_path(path) == language {
        return path.to_path_buf();
    }
    path.with_extension(match language {
        Language::Yaml => "yaml",
        Language::Dsl => "rkl",
    })
}

pub fn run(args: &Args) -> u8 {
    let mut unformatted = 0;
    let mut invalid = 0;
    let mut broken = 0;
    for path in &args.files {
        if super::skip_test_file(path) {
            continue;
        }
        let policy = match read(path) {
            Ok(policy) => policy,
            Err(e) => {
                eprint!("{}", e.render());
                let n = e.diagnostics.len();
                eprintln!(
                    "{}: {n} error{}; not formatted",
                    path.display(),
                    if n == 1 { "" } else { "s" }
                );
                invalid += 1;
                continue;
            }
        };
        let language = args
            .to
            .map_or_else(|| Language::of_path(path), Target::language);
        let canonical = print::print(policy.doc(), language);
        let target = destination(path, language);
        if args.check {
            // The file as it is on disk: a byte-order mark, which reading skips, is not canonical.
            let current = std::fs::read_to_string(&target).ok();
            if current.as_deref() != Some(canonical.as_str()) {
                println!(
                    "{}: not in canonical form (run `rekall-policy fmt --write`)",
                    target.display()
                );
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
    if broken > 0 {
        exit::TOOL
    } else if invalid > 0 || unformatted > 0 {
        exit::FOUND
    } else {
        exit::OK
    }
}
