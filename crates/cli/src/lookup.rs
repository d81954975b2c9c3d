//! What commands look up, shared by several: an app by name. Imports no command module, so
//! the commands do not import each other.

use roster_store::Store;

/// An app's record, or an error that names `roster app list`.
pub async fn find(store: &Store, name: &str) -> Result<roster_store::AppRecord, String> {
    store
        .find_app(name)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no app named '{name}'; see roster app list"))
}
