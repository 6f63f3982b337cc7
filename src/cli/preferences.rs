//! `rekall-policy preferences list --store URL [--min N]`: corrections and feedback that people
//! keep giving on one surface, shown as suggested preferences. Listing only: the store is
//! opened read-only, and nothing is applied; a person decides what to make of a suggestion.

use clap::Subcommand;

use super::exit;
use super::runtime_cli::{Format, print_json, read};
use super::untrusted::printable;
use crate::runtime::preferences::{self, DEFAULT_MIN, MIN_EXECUTIONS, Suggestion};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(Debug, Subcommand)]
enum Sub {
    /// List suggested preferences, most repeated first: corrections or feedback with the same
    /// tags on the same action (or feedback subject), from at least two executions.
    List {
        /// The store: sqlite://PATH.
        #[arg(long, value_name = "URL")]
        store: String,
        /// The fewest corrections or feedback answers on one surface to suggest it.
        #[arg(long, value_name = "N", default_value_t = DEFAULT_MIN as u32,
              value_parser = clap::value_parser!(u32).range(1..))]
        min: u32,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

pub fn run(args: &Args) -> u8 {
    let Sub::List { store, min, format } = &args.command;
    let (min, format) = (usize::try_from(*min).unwrap_or(usize::MAX), *format);
    read(store, |store| async move {
        let mut all = Vec::new();
        for q in preferences::queries() {
            all.extend(store.memories(q).await?);
        }
        let found = preferences::suggest(&all, min);
        match format {
            Format::Json => print_json(&serde_json::json!({ "suggestions": found })),
            Format::Text => print_text(&found, min),
        }
        Ok(exit::OK)
    })
}

fn print_text(found: &[Suggestion], min: usize) {
    if found.is_empty() {
        println!(
            "no suggested preferences (none with {min} or more corrections or feedback \
             from {MIN_EXECUTIONS} or more executions)"
        );
        return;
    }
    for s in found {
        let on = match (&s.surface.action, &s.surface.subject) {
            (Some(a), _) => format!("action {}", printable(a)),
            (None, Some(t)) => format!("feedback on \"{}\"", printable(t)),
            (None, None) => "no recorded action".to_owned(),
        };
        println!("{on}, tags {}", printable(&s.surface.tags.join(", ")));
        let executions: Vec<String> = s.executions.iter().map(ToString::to_string).collect();
        println!(
            "  {} times from {} executions, {} to {}: {}",
            s.count,
            s.executions.len(),
            s.first_at,
            s.last_at,
            executions.join(", ")
        );
        for e in &s.examples {
            println!("  - {}", indent(&printable(&e.content)));
            if let (Some(o), Some(c)) = (&e.original, &e.corrected) {
                println!(
                    "    {} -> {}",
                    printable(&o.to_string()),
                    printable(&c.to_string())
                );
            }
        }
    }
    println!("(suggestions only: nothing is applied)");
}

/// Keeps a multi-line text under its list item.
fn indent(text: &str) -> String {
    text.replace('\n', "\n    ")
}
