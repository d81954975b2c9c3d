//! `roster explain`: what an error text means, from roster's error catalog.

use clap::Args;
use roster_engine::codes::{self, Source};
use serde_json::json;
use std::io::Read;
use std::process::ExitCode;

/// Arguments of `roster explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The error text (a roster code, or a message pasted from roster or another provisioning system); `-` or
    /// nothing reads it from stdin.
    text: Vec<String>,
    /// List every roster code instead.
    #[arg(long, conflicts_with = "text")]
    list: bool,
    /// Output format.
    #[arg(long, value_parser = ["text", "json"], default_value = "text")]
    format: String,
}

/// Runs `roster explain`. Exit code 0 when the text was recognised, 1 when it was not.
pub fn run(args: &ExplainArgs) -> Result<ExitCode, String> {
    if args.list {
        if args.format == "json" {
            let all: Vec<_> = codes::ALL.iter().map(|c| c.to_json()).collect();
            out!("{}", serde_json::Value::Array(all));
        } else {
            for c in codes::ALL {
                out!("{:<26} {:<19} {}", c.code, c.category.name(), c.title);
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut text = args.text.join(" ");
    if text.trim().is_empty() || text == "-" {
        text.clear();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| format!("cannot read the error text from stdin: {e}"))?;
    }
    if text.trim().is_empty() {
        return Err("give the error text to explain: roster explain \"TEXT\" (or pipe it in)".into());
    }
    let found = codes::explain(&text);
    if args.format == "json" {
        let items: Vec<_> = found.iter().map(codes::Explanation::to_json).collect();
        out!(
            "{}",
            json!({ "recognised": !found.is_empty(), "explanations": items })
        );
    } else if found.is_empty() {
        out!(
            "roster does not recognise this text, so it will not guess at a cause.\n\
             If it came from an app, roster log APP --failures shows roster's own code for each failure; \
             roster explain --list lists every code."
        );
    } else {
        for (i, e) in found.iter().enumerate() {
            if i > 0 {
                out!();
            }
            let c = e.code;
            out!("{}  {}", c.code, c.title);
            match &e.source {
                Source::Known { system, note } => {
                    out!("  recognised as: a message of {system}");
                    out!("  meaning:       {note}");
                }
                Source::ErrorBody { status, reason } => {
                    let mut what = format!("an error answer, status {status}");
                    if let Some(r) = reason {
                        what.push_str(&format!(", reason {r}"));
                    }
                    out!("  recognised as: {what}");
                }
                Source::Status(s) => out!("  recognised as: HTTP status {s}"),
                Source::RosterCode => {}
            }
            out!(
                "  category:      {}{}",
                c.category.name(),
                if c.retryable {
                    " (roster retries by itself)"
                } else {
                    ""
                }
            );
            out!("  cause:         {}", c.cause);
            out!("  fix:           {}", c.fix);
        }
    }
    Ok(if found.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
