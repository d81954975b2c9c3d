//! Reading an app's provisioning log, and the names its objects go by now.

use crate::{Admin, AdminError};
use roster_store::{LogEntry, LogQuery, ResourceKind};
use std::collections::HashMap;

/// Which entries of an app's log to read.
#[derive(Debug, Clone, Default)]
pub struct LogFilter<'a> {
    /// Only failures.
    pub failures_only: bool,
    /// Only this object: a user's userName, a group's displayName, or an id (also of an object deleted since).
    pub object: Option<&'a str>,
    /// Only entries with this roster code.
    pub code: Option<&'a str>,
    /// Only entries from this time on.
    pub since: Option<time::OffsetDateTime>,
    /// At most this many (the newest).
    pub limit: i64,
}

impl Admin {
    /// An app's provisioning log, newest first.
    pub async fn log(&self, app: &str, filter: &LogFilter<'_>) -> Result<Vec<LogEntry>, AdminError> {
        self.app(app).await?;
        let object = match filter.object {
            // A name resolves to its object; anything else is taken as an id (a deleted object's stays in the log).
            Some(o) => Some(
                self.store()
                    .find_named(o)
                    .await?
                    .map_or_else(|| o.to_owned(), |(_, id)| id),
            ),
            None => None,
        };
        let q = LogQuery {
            app: Some(app),
            source_id: object.as_deref(),
            code: filter.code,
            failures_only: filter.failures_only,
            since: filter.since,
            limit: filter.limit,
        };
        Ok(self.store().list_log(&q).await?)
    }

    /// The names objects go by now, by (kind, id): a user's userName, a group's displayName (objects deleted from
    /// the directory have none).
    pub async fn names<'a>(
        &self,
        objects: impl Iterator<Item = (ResourceKind, &'a str)> + Clone,
    ) -> Result<HashMap<(ResourceKind, String), String>, AdminError> {
        let mut names = HashMap::new();
        for (kind, attr) in [
            (ResourceKind::User, "userName"),
            (ResourceKind::Group, "displayName"),
        ] {
            let mut ids: Vec<String> = objects
                .clone()
                .filter(|(k, _)| *k == kind)
                .map(|(_, id)| id.to_owned())
                .collect();
            ids.sort_unstable();
            ids.dedup();
            for r in self.store().load_resources(kind, &ids).await? {
                if let Some(n) = r.data.get(attr).and_then(serde_json::Value::as_str) {
                    names.insert((kind, r.id.clone()), n.to_owned());
                }
            }
        }
        Ok(names)
    }
}
