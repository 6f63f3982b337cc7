//! `rekall-policy test [PATH...]`

use std::path::PathBuf;

use super::exit;
use crate::Policy;
use crate::testing::{self, Format, TestFile};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Test files, policies (their `.test.yaml` beside them) or directories; none means the
    /// current directory.
    paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

pub fn run(args: &Args) -> u8 {
    let files = match testing::discover(&args.paths) {
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
    for path in files {
        let loaded = TestFile::load(&path)
            .and_then(|file| Policy::from_path(&file.policy).map(|policy| (file, policy)));
        match loaded {
            Ok((file, policy)) => results.push(testing::run_file(file, &policy)),
            Err(e) => errors.push(e.render()),
        }
    }
    print!("{}", testing::report(args.format, &results, &errors));
    if !errors.is_empty() {
        exit::TOOL
    } else if results.iter().any(|r| r.failed() > 0) {
        exit::FOUND
    } else {
        exit::OK
    }
}
