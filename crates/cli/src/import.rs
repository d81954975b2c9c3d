//! `roster import`: users and groups from a CSV or JSON file into the directory (`roster_store::import`).

use crate::output::Progress;
use crate::serve::{DatabaseArg, open};
use clap::Args;
use roster_store::AuditAction;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A CSV file (header of SCIM attribute paths, optional `groups` column) or a JSON file of SCIM resources.
    file: std::path::PathBuf,
    /// Print what would be created and updated, and write nothing.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    db: DatabaseArg,
}

pub async fn import(args: ImportArgs) -> Result<ExitCode, String> {
    let store = open(&args.db).await?;
    let opts = roster_store::import::ImportOptions {
        dry_run: args.dry_run,
    };
    let mut progress = Progress::new("import");
    let r = roster_store::import::import_file(&store, &args.file, opts, &mut |r| {
        let rows = r.created + r.updated + r.unchanged + r.skipped.len();
        progress.tick(rows, || {
            format!(
                "{rows} rows: {} created, {} updated, {} unchanged, {} skipped",
                r.created,
                r.updated,
                r.unchanged,
                r.skipped.len()
            )
        });
    })
    .await?;
    progress.done();
    if !r.errors.is_empty() {
        for (at, why) in r.errors.iter().take(50) {
            eprintln!("error {at}: {why}");
        }
        if r.errors.len() > 50 {
            eprintln!("… and {} more", r.errors.len() - 50);
        }
        eprintln!(
            "Nothing was imported from {}: fix the {} line(s) above and import it again.",
            args.file.display(),
            r.errors.len()
        );
        return Ok(ExitCode::from(1));
    }
    for (at, why) in &r.skipped {
        eprintln!("skipped {at}: {why}");
    }
    for line in &r.plan {
        out!("{line}");
    }
    eprintln!(
        "{} {}: {} {}, {} {}, {} unchanged, {} memberships {}, {} skipped{}",
        if args.dry_run { "Dry run of" } else { "Imported" },
        args.file.display(),
        r.created,
        if args.dry_run { "to create" } else { "created" },
        r.updated,
        if args.dry_run { "to update" } else { "updated" },
        r.unchanged,
        r.memberships,
        if args.dry_run { "to add" } else { "added" },
        r.skipped.len(),
        if args.dry_run {
            "; nothing was written."
        } else {
            "."
        }
    );
    let code = if r.skipped.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    };
    if args.dry_run {
        return Ok(code);
    }
    let change = serde_json::json!({"created": r.created, "updated": r.updated, "unchanged": r.unchanged,
        "memberships": r.memberships, "skipped": r.skipped.len()});
    crate::actor::record(
        &store,
        AuditAction::Import,
        &args.file.display().to_string(),
        change,
    )
    .await?;
    Ok(code)
}
