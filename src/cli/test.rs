//! `rekall-policy test [PATH...] [--filter TEXT]`

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{exit, input};
use crate::diagnostic::PolicyError;
use crate::testing::{self, Format, TestFile};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Test files, policies or directories; none means the current directory. A policy is
    /// tested with the cases of the `.test.yaml` beside it (so `seed.rkl` runs the cases of
    /// `seed.test.yaml` against `seed.rkl` itself, whichever twin the test file names).
    paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Run only the cases whose name contains this text; a filter that matches no case is an
    /// error, so that a misspelled one cannot pass by running nothing.
    #[arg(long, value_name = "TEXT")]
    filter: Option<String>,
}

fn is_policy_file(path: &Path) -> bool {
    path.is_file()
        && !path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(testing::SUFFIX))
}

/// The test files to run, each with the policy named on the command line for it, if any.
fn plan(paths: &[PathBuf]) -> Result<BTreeMap<PathBuf, Option<PathBuf>>, String> {
    let mut out = BTreeMap::new();
    if paths.is_empty() {
        for file in testing::discover(paths)? {
            out.insert(file, None);
        }
        return Ok(out);
    }
    for path in paths {
        let policy = is_policy_file(path).then(|| path.clone());
        for file in testing::discover(std::slice::from_ref(path))? {
            let entry = out.entry(file).or_insert(None);
            if policy.is_some() {
                entry.clone_from(&policy);
            }
        }
    }
    Ok(out)
}

/// Loads a test file and the policy it runs against: the one given, or the one it names.
fn load(path: &Path, given: Option<&Path>) -> Result<(TestFile, crate::Policy), PolicyError> {
    let mut file = TestFile::load(path)?;
    if let Some(given) = given
        && given != file.policy
    {
        eprintln!(
            "note: {}: run with the cases of {}, which names {}",
            given.display(),
            path.display(),
            file.policy.display()
        );
        file.policy = given.to_path_buf();
    }
    let policy = input::read_policy(&file.policy)?;
    Ok((file, policy))
}

pub fn run(args: &Args) -> u8 {
    let files = match plan(&args.paths) {
        Ok(files) => files,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::TOOL;
        }
    };
    if files.is_empty() {
        eprintln!("error: no test files (*{}) found", testing::SUFFIX);
        return exit::TOOL;
    }
    let mut results = Vec::new();
    let mut errors = Vec::new();
    let mut total = 0;
    let mut kept = 0;
    for (path, given) in &files {
        match load(path, given.as_deref()) {
            Ok((mut file, policy)) => {
                total += file.cases.len();
                if let Some(filter) = &args.filter {
                    file.cases.retain(|c| c.name.contains(filter.as_str()));
                }
                kept += file.cases.len();
                if args.filter.is_none() || !file.cases.is_empty() {
                    results.push(testing::run_file(file, &policy));
                }
            }
            Err(e) => errors.push(e.render()),
        }
    }
    if let Some(filter) = &args.filter {
        if kept == 0 && errors.is_empty() {
            eprintln!("error: --filter: no case name contains `{filter}` (of {total} cases)");
            return exit::TOOL;
        }
        eprintln!("filter `{filter}`: {kept} of {total} cases");
    }
    let report = testing::report(args.format, &results, &errors);
    match args.format {
        Format::Text => print!("{}", super::color::report(&report)),
        _ => print!("{report}"),
    }
    if !errors.is_empty() {
        exit::INVALID
    } else if results.iter().any(|r| r.failed() > 0) {
        exit::FOUND
    } else {
        exit::OK
    }
}
