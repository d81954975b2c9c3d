//! One user and one app, on an admin's request: provisioned now with every step traced, or previewed (the exact
//! body roster would send, and the plan) without sending anything.

use crate::{Admin, AdminError, Failure};
use roster_engine::plan::{Action, Source};
use roster_engine::sync::{AppRuntime, ObjectResult, SyncError, SyncOptions, sync_object};
use roster_store::{AuditAction, ResourceKind};
use serde_json::{Value, json};

/// What [`Admin::provision`] did.
#[derive(Debug, Clone)]
pub struct Provisioned {
    /// The user's directory id.
    pub id: String,
    /// The sync's result, with its steps.
    pub result: ObjectResult,
}

impl Provisioned {
    /// The result as one object (`roster provision --format json`, the admin API): the action, how it ended,
    /// a failure's code with its cause and fix in `lang`, and the steps.
    pub fn to_json(&self, user: &str, lang: roster_codes::Lang) -> Value {
        let r = &self.result;
        json!({
            "user": user, "id": self.id, "action": r.action.name(), "detail": r.action.to_string(),
            "outcome": r.outcome.as_str(), "succeeded": self.succeeded(), "code": r.code.map(|c| c.code),
            "message": r.message, "cause": r.code.map(|c| c.texts(lang).cause),
            "fix": r.code.map(|c| c.texts(lang).fix),
            "steps": r.steps.iter().map(|s| json!({"stage": s.stage, "text": s.text})).collect::<Vec<_>>(),
        })
    }

    /// Whether the user ended in line with the app (a failure or a conflict held for a person is not).
    pub fn succeeded(&self) -> bool {
        self.result.outcome != roster_store::Outcome::Failed
            && !matches!(self.result.action, Action::Conflict { .. })
    }
}

/// What [`Admin::preview`] found.
#[derive(Debug, Clone)]
pub struct Preview {
    /// The body a create would send, as shown to a person (secret-named values `[redacted]`; Google's form for
    /// a Google Workspace app).
    pub body: Value,
    /// What a sync would do now.
    pub plan: Action,
    /// What is wrong with the mapping (each a `R-MAPPING-INVALID`).
    pub problems: Vec<String>,
}

impl Admin {
    /// The app ready to sync (its settings, scope and mapping checked).
    pub async fn runtime(&self, app: &str) -> Result<AppRuntime, AdminError> {
        self.app(app).await?;
        AppRuntime::load(self.store(), app).await.map_err(|e| match e {
            SyncError::App(e) => AdminError::with_code(Failure::Invalid, e.code, e.message),
            SyncError::Store(e) => e.into(),
        })
    }

    /// A user's directory id from its userName or id.
    pub async fn user_id(&self, user: &str) -> Result<String, AdminError> {
        if let Some(r) = self.store().get_resource(ResourceKind::User, user).await? {
            return Ok(r.id);
        }
        match self.store().find_named(user).await? {
            Some((ResourceKind::User, id)) => Ok(id),
            _ => Err(AdminError::not_found(format!(
                "no user with userName or id '{user}' in the directory"
            ))),
        }
    }

    /// Provisions one user to one app now, reading the account at the app (drift repaired), the deprovision guard
    /// aside (one user on an admin's request). Audited before it runs.
    pub async fn provision(&self, app: &str, user: &str) -> Result<Provisioned, AdminError> {
        let runtime = self.runtime(app).await?;
        let id = self.user_id(user).await?;
        self.audit(AuditAction::Provision, app, json!({"user": user, "id": id}))
            .await?;
        let result = sync_object(
            self.store(),
            &runtime,
            ResourceKind::User,
            &id,
            one_user(true, false),
        )
        .await?;
        Ok(Provisioned { id, result })
    }

    /// What roster would send to create `user`'s account at `app`, and what a sync would do now; nothing is sent.
    pub async fn preview(&self, app: &str, user: &str) -> Result<Preview, AdminError> {
        let runtime = self.runtime(app).await?;
        let id = self.user_id(user).await?;
        let r = sync_object(
            self.store(),
            &runtime,
            ResourceKind::User,
            &id,
            one_user(false, true),
        )
        .await?;
        let payload = match &r.action {
            Action::Create { payload } => payload.clone(),
            _ => {
                let resource = self
                    .store()
                    .get_resource(ResourceKind::User, &id)
                    .await?
                    .map(|r| {
                        let mut d = r.data;
                        d.insert("id".into(), r.id.into());
                        Value::Object(d)
                    });
                match runtime.source(resource.as_ref()) {
                    Source::InScope { create, .. } => create,
                    _ => {
                        return Err(AdminError::invalid(format!(
                            "user '{user}' is not in the scope of app '{app}': nothing would be sent"
                        )));
                    }
                }
            }
        };
        let body = runtime
            .client
            .create_body_shown(ResourceKind::User, &payload)
            .map_err(AdminError::invalid)?;
        Ok(Preview {
            body,
            plan: r.action,
            problems: crate::checks::mapping_problems(&runtime.config.effective_mapping(), &[]),
        })
    }
}

/// How one user is synced on an admin's request: the guard is for mass changes.
fn one_user(read_target: bool, dry_run: bool) -> SyncOptions<'static> {
    SyncOptions {
        snapshot: None,
        read_target,
        dry_run,
        attempt: 1,
        guard: false,
    }
}
