//! `roster secrets`: the key that seals the apps' credentials in the database.

use crate::serve::{DatabaseArg, open};
use clap::Subcommand;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Seal every stored credential under a new key, which replaces the old one in the key file. Give the new
    /// file to every roster process that shares the database.
    Rotate {
        #[command(flatten)]
        db: DatabaseArg,
    },
}

pub async fn run(cmd: SecretsCommand) -> Result<ExitCode, String> {
    match cmd {
        SecretsCommand::Rotate { db } => {
            let store = open(&db).await?;
            let r = store.rotate_secret_key().await.map_err(|e| e.to_string())?;
            out!(
                "{} credential(s) sealed under key {} (was {}); the key file {} now holds the new key{}",
                r.resealed,
                r.new_id,
                r.old_id,
                r.path.display(),
                if r.resumed {
                    " (an interrupted rotation finished)"
                } else {
                    ""
                }
            );
            eprintln!(
                "Give {} to every roster process that shares this database, and replace the old key wherever \
                 it was kept.",
                r.path.display()
            );
            crate::actor::record(
                &store,
                roster_store::AuditAction::SecretRotate,
                &r.path.display().to_string(),
                serde_json::json!({"old_key": r.old_id, "new_key": r.new_id, "resealed": r.resealed}),
            )
            .await?;
            store.close().await;
            Ok(ExitCode::SUCCESS)
        }
    }
}
