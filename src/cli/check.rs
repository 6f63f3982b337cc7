//! `rekall-policy check FILE...`

use std::path::PathBuf;

use super::exit;
use crate::Policy;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Policy files to validate.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

pub fn run(args: &Args) -> u8 {
    let mut failed = 0;
    let mut errors = 0;
    for file in &args.files {
        if super::skip_test_file(file) {
            continue;
        }
        match Policy::from_path(file) {
            Ok(_) => println!("{}: ok", file.display()),
            Err(e) => {
                print!("{}", e.render());
                failed += 1;
                errors += e.diagnostics.len();
            }
        }
    }
    if failed == 0 {
        exit::OK
    } else {
        println!(
            "{errors} error{} in {failed} of {} file{}",
            if errors == 1 { "" } else { "s" },
            args.files.len(),
            if args.files.len() == 1 { "" } else { "s" }
        );
        exit::FOUND
    }
}
