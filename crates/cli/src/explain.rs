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
/// The words `roster explain` frames a code with, per language (labels padded to one display width).
struct Labels {
    recognised_as: &'static str,
    a_message_of: &'static str,
    meaning: &'static str,
    error_answer: &'static str,
    reason: &'static str,
    http_status: &'static str,
    category: &'static str,
    retries: &'static str,
    cause: &'static str,
    fix: &'static str,
    not_recognised: &'static str,
}

const EN: Labels = Labels {
    recognised_as: "recognised as:",
    a_message_of: "a message of {system}",
    meaning: "meaning:      ",
    error_answer: "an error answer, status",
    reason: ", reason",
    http_status: "HTTP status",
    category: "category:     ",
    retries: " (roster retries by itself)",
    cause: "cause:        ",
    fix: "fix:          ",
    not_recognised: "roster does not recognise this text, so it will not guess at a cause.\n\
         If it came from an app, roster log APP --failures shows roster's own code for each failure; \
         roster explain --list lists every code.",
};

const JA: Labels = Labels {
    recognised_as: "認識した内容:",
    a_message_of: "{system} のメッセージ",
    meaning: "意味:        ",
    error_answer: "エラー応答、ステータス",
    reason: "、理由",
    http_status: "HTTP ステータス",
    category: "分類:        ",
    retries: "(roster が自動で再試行します)",
    cause: "原因:        ",
    fix: "対処:        ",
    not_recognised: "roster はこのテキストを認識できないため、原因を推測しません。\n\
         アプリから出たものであれば、roster log APP --failures で失敗ごとの roster のコードを確認できます。\
         roster explain --list ですべてのコードを一覧できます。",
};

/// Runs `roster explain`. Exit code 0 when the text was recognised, 1 when it was not.
pub fn run(args: &ExplainArgs) -> Result<ExitCode, String> {
    let lang = crate::lang();
    let words = match lang {
        codes::Lang::En => &EN,
        codes::Lang::Ja => &JA,
    };
    if args.list {
        if args.format == "json" {
            let all: Vec<_> = codes::ALL.iter().map(|c| c.to_json_in(lang)).collect();
            out!("{}", serde_json::Value::Array(all));
        } else {
            for c in codes::ALL {
                out!(
                    "{:<26} {:<19} {}",
                    c.code,
                    c.category.name_in(lang),
                    c.texts(lang).title
                );
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
        let items: Vec<_> = found.iter().map(|e| e.to_json_in(lang)).collect();
        out!(
            "{}",
            json!({ "recognised": !found.is_empty(), "explanations": items })
        );
    } else if found.is_empty() {
        out!("{}", words.not_recognised);
    } else {
        for (i, e) in found.iter().enumerate() {
            if i > 0 {
                out!();
            }
            let c = e.code;
            let t = c.texts(lang);
            let w = words;
            out!("{}  {}", c.code, t.title);
            match &e.source {
                Source::Known { system, .. } => {
                    out!(
                        "  {} {}",
                        w.recognised_as,
                        w.a_message_of.replace("{system}", system)
                    );
                    out!("  {} {}", w.meaning, e.note_in(lang).unwrap_or_default());
                }
                Source::ErrorBody { status, reason } => {
                    let mut what = format!("{} {status}", w.error_answer);
                    if let Some(r) = reason {
                        what.push_str(&format!("{} {r}", w.reason));
                    }
                    out!("  {} {what}", w.recognised_as);
                }
                Source::Status(s) => out!("  {} {} {s}", w.recognised_as, w.http_status),
                Source::RosterCode => {}
            }
            out!(
                "  {} {}{}",
                w.category,
                c.category.name_in(lang),
                if c.retryable { w.retries } else { "" }
            );
            out!("  {} {}", w.cause, t.cause);
            out!("  {} {}", w.fix, t.fix);
        }
    }
    Ok(if found.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
