//! What commands look up, shared by several: an app by name, and ready to sync. Imports no command module, so
//! the commands do not import each other.

use roster_engine::sync::AppRuntime;
use roster_store::Store;

/// An app's record, or an error that names `roster app list`.
pub async fn find(store: &Store, name: &str) -> Result<roster_store::AppRecord, String> {
    store
        .find_app(name)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no app named '{name}'; see roster app list"))
}

/// The app ready to sync; an unknown name is said as such (not as a scope or mapping problem).
pub async fn runtime(store: &Store, name: &str) -> Result<AppRuntime, String> {
    find(store, name).await?;
    AppRuntime::load(store, name).await.map_err(|e| e.to_string())
}
