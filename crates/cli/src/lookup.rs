//! What commands look up and run, shared by several: an app by name (and ready to sync), a user by userName
//! or id, one user synced now. Imports no command module, so the commands do not
//! import each other.

use roster_engine::sync::{AppRuntime, ObjectResult, SyncOptions, sync_object};
use roster_store::{ResourceKind, Store};

/// An app's record, or an error that names `roster app list`.
pub async fn find(store: &Store, name: &str) -> Result<roster_store::AppRecord, String> {
    store
        .find_app(name)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no app named '{name}'; see roster app list"))
}

/// A user's id from its userName or id.
pub async fn find_user(store: &Store, user: &str) -> Result<String, String> {
    find_object(store, ResourceKind::User, "userName", user)
        .await?
        .ok_or_else(|| format!("no user with userName or id '{user}' in the directory"))
}

/// The id of the directory object of `kind` whose id is `s`, or else whose `attr` equals `s`.
pub async fn find_object(
    store: &Store,
    kind: ResourceKind,
    attr: &str,
    s: &str,
) -> Result<Option<String>, String> {
    if let Some(r) = store.get_resource(kind, s).await.map_err(|e| e.to_string())? {
        return Ok(Some(r.id));
    }
    let f = roster_scim::Filter::eq_str(attr, s).map_err(|e| e.detail)?;
    let q = roster_store::ListQuery {
        filter: Some(&f),
        limit: 1,
        ..Default::default()
    };
    let page = store.list_resources(kind, &q).await.map_err(|e| e.to_string())?;
    Ok(page.resources.into_iter().next().map(|r| r.id))
}

/// Syncs (or, with `dry_run`, plans) one user now.
pub async fn sync_user(
    store: &Store,
    app: &AppRuntime,
    id: &str,
    read_target: bool,
    dry_run: bool,
) -> Result<ObjectResult, String> {
    let opts = SyncOptions {
        snapshot: None,
        read_target,
        dry_run,
        attempt: 1,
        // One user on an admin's request: the guard is for mass changes.
        guard: false,
    };
    sync_object(store, app, ResourceKind::User, id, opts)
        .await
        .map_err(|e| e.to_string())
}

/// The app ready to sync; an unknown name is said as such (not as a scope or mapping problem).
pub async fn runtime(store: &Store, name: &str) -> Result<AppRuntime, String> {
    find(store, name).await?;
    AppRuntime::load(store, name).await.map_err(|e| e.to_string())
}
