//! `roster import`: users and groups from CSV or JSON files into the directory, as an HR export would deliver
//! them. Idempotent: a record updates the resource with the same `externalId`, else the same `userName` (a
//! group's `displayName`), else creates one; an unchanged record writes nothing. Every write goes through the
//! directory, so the journal carries it to the apps.
//!
//! A broken file writes nothing: the whole file is checked first, and a header that is not attribute paths, a
//! row that is not CSV, a row with the wrong number of fields, a quoted field running over several lines (an
//! unclosed quote would otherwise swallow the rows after it) and two records with one key (`userName`
//! compared without case, `externalId`, a group's `displayName`) are [`ImportReport::errors`] with their lines.
//! A well-formed record the directory refuses (a value of the wrong type) is reported with its line and
//! skipped; the rest is imported. A dry run ([`ImportOptions::dry_run`]) reads and compares but writes nothing.
//!
//! - CSV: a header of SCIM attribute paths (`userName`, `name.givenName`, `emails[type eq "work"].value`,
//!   `active`, `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department`, …) and one user per row.
//!   An optional `groups` column lists group names separated by `;`: the user is added to them (groups are
//!   created when missing).
//! - JSON: an array of SCIM resources, a ListResponse (`Resources`), or `{"Users": […], "Groups": […]}`. A
//!   resource is a Group when its `schemas` name the Group schema; a Group's `members` may name users by id or by
//!   `userName`.

use crate::{Member, MemberChange, ResourceKind, Store, StoreError};
use roster_scim::{PatchPath, SchemaRegistry, ValidateOptions};
use serde_json::{Map, Value};

/// What an import did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportReport {
    /// Resources created.
    pub created: usize,
    /// Resources changed.
    pub updated: usize,
    /// Records identical to what the directory holds.
    pub unchanged: usize,
    /// Memberships added.
    pub memberships: usize,
    /// Records skipped: (where, why).
    pub skipped: Vec<(String, String)>,
    /// What makes the file unfit to import: (where, why). When there are any, nothing was written.
    pub errors: Vec<(String, String)>,
    /// A dry run's plan, one line per record that would change something (`create line 2: ann@example.com`).
    pub plan: Vec<String>,
}

/// How to import.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ImportOptions {
    /// Read and compare, write nothing; [`ImportReport::plan`] says what would change.
    pub dry_run: bool,
}

/// One record to import.
struct Record {
    at: String,
    kind: ResourceKind,
    data: Value,
    groups: Vec<String>,
}

/// Imports a file; its name decides the format (`.csv`, else JSON). A CSV file is read row by row, twice (checked
/// whole, then imported), so memory stays flat however long it is (but for one key per record, to find
/// duplicates).
///
/// `progress` sees the report after each batch of rows (the CLI shows it as progress).
pub async fn import_file(
    store: &Store,
    path: &std::path::Path,
    opts: ImportOptions,
    progress: &mut dyn FnMut(&ImportReport),
) -> Result<ImportReport, String> {
    let report = import_file_as_read(store, path, opts, progress).await?;
    // A bulk load changes the tables' sizes more than the planner's statistics know (see `refresh_statistics`).
    if report.created + report.updated + report.memberships >= BULK {
        store.refresh_statistics().await.map_err(|e| e.to_string())?;
    }
    Ok(report)
}

/// Writes (created, updated, memberships added) from which an import is a bulk load.
const BULK: usize = 1_000;

/// Keeps the planner's statistics in step with a bulk load as it goes (see [`Store::refresh_statistics`]): the
/// directory's tables are analysed whenever the import has added as many rows again as they held when last
/// analysed (and at least [`BULK`]), so its own key lookups are planned for the table's size. On a PostgreSQL
/// without autovacuum, the lookups of a million-user import were planned for an empty table (a scan of every
/// user through another index, 150 ms each at 260,000 users). About twenty times for a million, however
/// large the file.
struct Statistics {
    /// Rows added (created, memberships) when the tables were last analysed.
    added: usize,
    /// Resources the directory held then.
    held: usize,
}

impl Statistics {
    async fn new(store: &Store) -> Result<Self, StoreError> {
        let held = store.count_resources(ResourceKind::User).await?
            + store.count_resources(ResourceKind::Group).await?;
        Ok(Self {
            added: 0,
            held: usize::try_from(held).unwrap_or(usize::MAX),
        })
    }

    async fn keep_up(&mut self, store: &Store, report: &ImportReport) -> Result<(), StoreError> {
        let added = report.created + report.memberships;
        let since = added.saturating_sub(self.added);
        if since >= BULK && since >= self.held {
            store.refresh_statistics().await?;
            self.added = added;
            self.held = self.held.saturating_add(since);
        }
        Ok(())
    }
}

/// [`import_file`] without its closing step.
async fn import_file_as_read(
    store: &Store,
    path: &std::path::Path,
    opts: ImportOptions,
    progress: &mut dyn FnMut(&ImportReport),
) -> Result<ImportReport, String> {
    let name = path.to_string_lossy().to_ascii_lowercase();
    let open = || std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()));
    if name.ends_with(".csv") {
        let errors = check_csv(std::io::BufReader::new(open()?));
        if !errors.is_empty() {
            return Ok(ImportReport {
                errors,
                ..ImportReport::default()
            });
        }
        import_csv(store, std::io::BufReader::new(open()?), opts, progress)
            .await
            .map_err(|e| e.to_string())
    } else {
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        import_with(store, &name, &text, opts)
            .await
            .map_err(|e| e.to_string())
    }
}

/// Checks a whole CSV file without writing: the errors that make it unfit to import (see the module's doc).
pub fn check_csv(reader: impl std::io::Read) -> Vec<(String, String)> {
    let mut report = ImportReport::default();
    let mut keys = Keys::default();
    let mut errors = Vec::new();
    for r in csv_records(reader, &mut report) {
        match r {
            Ok(r) => keys.check(&r, &mut errors),
            Err(e) => errors.push(e),
        }
    }
    report.skipped.extend(errors);
    report.skipped
}

/// The keys seen so far in a file, to find two records for one resource.
#[derive(Default)]
struct Keys {
    /// (kind, key name, value) → where it was first seen.
    seen: std::collections::HashMap<(ResourceKind, &'static str, String), String>,
}

impl Keys {
    fn check(&mut self, r: &Record, errors: &mut Vec<(String, String)>) {
        let name_attr = match r.kind {
            ResourceKind::User => "userName",
            ResourceKind::Group => "displayName",
        };
        let name = roster_scim::value::get_ci(&r.data, name_attr)
            .and_then(Value::as_str)
            .map(|v| (name_attr, crate::name_key(r.kind, v), v));
        let ext = r
            .data
            .get("externalId")
            .and_then(Value::as_str)
            .map(|v| ("externalId", v.to_owned(), v));
        for (attr, key, shown) in name.into_iter().chain(ext) {
            match self.seen.entry((r.kind, attr, key)) {
                std::collections::hash_map::Entry::Occupied(first) => errors.push((
                    r.at.clone(),
                    format!(
                        "{attr} '{shown}' is already in {}{}: one record per {}",
                        first.get(),
                        if attr == "externalId" {
                            ""
                        } else {
                            " (compared without case)"
                        },
                        r.kind.as_str().to_lowercase()
                    ),
                )),
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(r.at.clone());
                }
            }
        }
    }
}

/// Imports CSV rows from a reader (checked as the rows come: call [`check_csv`] first so that a broken file
/// writes nothing).
pub async fn import_csv(
    store: &Store,
    reader: impl std::io::Read,
    opts: ImportOptions,
    progress: &mut dyn FnMut(&ImportReport),
) -> Result<ImportReport, StoreError> {
    let mut report = ImportReport::default();
    let registry = SchemaRegistry::new();
    let mut memberships: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    let mut users = Vec::with_capacity(CHUNK);
    let mut statistics = Statistics::new(store).await?;
    for r in csv_records(reader, &mut report) {
        let other = match r {
            Ok(r) if r.kind == ResourceKind::User && !opts.dry_run => {
                users.push(r);
                if users.len() < CHUNK {
                    continue;
                }
                None
            }
            other => Some(other),
        };
        // Rows apply in file order: the users read so far go first.
        apply_users(
            store,
            &registry,
            std::mem::take(&mut users),
            &mut report,
            &mut memberships,
        )
        .await?;
        statistics.keep_up(store, &report).await?;
        progress(&report);
        match other {
            Some(Ok(r)) => apply(store, &registry, r, &mut report, &mut memberships, opts).await?,
            Some(Err(skip)) => report.skipped.push(skip),
            None => {}
        }
    }
    apply_users(store, &registry, users, &mut report, &mut memberships).await?;
    add_all_members(store, memberships, &mut report, opts).await?;
    Ok(report)
}

async fn add_all_members(
    store: &Store,
    memberships: std::collections::BTreeMap<String, Vec<String>>,
    report: &mut ImportReport,
    opts: ImportOptions,
) -> Result<(), StoreError> {
    for (group, users) in memberships {
        match add_members(store, &group, &users, opts.dry_run).await {
            Ok(n) => report.memberships += n,
            Err(StoreError::Scim(e)) => report.skipped.push((format!("group '{group}'"), e.detail)),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Imports a file's text; `name` decides the format (`.csv`, else JSON).
pub async fn import(store: &Store, name: &str, text: &str) -> Result<ImportReport, StoreError> {
    import_with(store, name, text, ImportOptions::default()).await
}

/// [`import`] with options.
pub async fn import_with(
    store: &Store,
    name: &str,
    text: &str,
    opts: ImportOptions,
) -> Result<ImportReport, StoreError> {
    if name.to_ascii_lowercase().ends_with(".csv") {
        let errors = check_csv(text.as_bytes());
        if !errors.is_empty() {
            return Ok(ImportReport {
                errors,
                ..ImportReport::default()
            });
        }
        return import_csv(store, text.as_bytes(), opts, &mut |_| {}).await;
    }
    let mut report = ImportReport::default();
    let registry = SchemaRegistry::new();
    // Group name → users to add, applied at the end with one write per group.
    let mut memberships: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    let records = parse_json(text, &mut report);
    let mut keys = Keys::default();
    for r in &records {
        keys.check(r, &mut report.errors);
    }
    if !report.errors.is_empty() {
        return Ok(report);
    }
    // Users first, so groups can name them.
    let (users, groups): (Vec<_>, Vec<_>) = records.into_iter().partition(|r| r.kind == ResourceKind::User);
    if opts.dry_run {
        for r in users {
            apply(store, &registry, r, &mut report, &mut memberships, opts).await?;
        }
    } else {
        let mut users = users.into_iter().peekable();
        while users.peek().is_some() {
            let chunk: Vec<Record> = users.by_ref().take(CHUNK).collect();
            apply_users(store, &registry, chunk, &mut report, &mut memberships).await?;
        }
    }
    for r in groups {
        apply(store, &registry, r, &mut report, &mut memberships, opts).await?;
    }
    add_all_members(store, memberships, &mut report, opts).await?;
    Ok(report)
}

/// User records checked and written this many at a time.
const CHUNK: usize = 500;

/// Imports a run of user records with the result each would have alone, in fewer round trips: one lookup of
/// the users holding their externalIds and userNames, one read of the users they match, one multi-row create.
/// A record that shares no key with another record of the run, and matches a user no other record names, is
/// settled from these: created when it matches nothing, unchanged when it equals its user. The rest (changes,
/// and records entangled with another) are applied one by one afterwards, in file order; they cannot touch what
/// the settled ones created or compared, since no other record names those users.
async fn apply_users(
    store: &Store,
    registry: &SchemaRegistry,
    records: Vec<Record>,
    report: &mut ImportReport,
    memberships: &mut std::collections::BTreeMap<String, Vec<String>>,
) -> Result<(), StoreError> {
    if records.is_empty() {
        return Ok(());
    }
    let kind = ResourceKind::User;
    let keys: Vec<(Option<String>, Option<String>)> = records
        .iter()
        .map(|r| {
            let ext = r
                .data
                .get("externalId")
                .and_then(Value::as_str)
                .map(str::to_owned);
            let name = roster_scim::value::get_ci(&r.data, "userName")
                .and_then(Value::as_str)
                .map(|n| crate::name_key(kind, n));
            (ext, name)
        })
        .collect();
    let exts: Vec<String> = keys.iter().filter_map(|(e, _)| e.clone()).collect();
    let names: Vec<String> = keys.iter().filter_map(|(_, n)| n.clone()).collect();
    let (by_ext, by_name) = store.ids_by_keys(kind, &exts, &names).await?;
    let none: Vec<String> = Vec::new();
    let held = |(e, n): &(Option<String>, Option<String>)| {
        let ext = e.as_ref().and_then(|e| by_ext.get(e)).unwrap_or(&none);
        let name = n.as_ref().and_then(|n| by_name.get(n)).unwrap_or(&none);
        (ext, name)
    };
    // How many records name each key, and each user through any of their keys.
    let mut key_uses: std::collections::HashMap<(bool, &str), usize> = Default::default();
    let mut user_uses: std::collections::HashMap<&str, usize> = Default::default();
    for k in &keys {
        if let Some(e) = &k.0 {
            *key_uses.entry((false, e.as_str())).or_default() += 1;
        }
        if let Some(n) = &k.1 {
            *key_uses.entry((true, n.as_str())).or_default() += 1;
        }
        let (ext, name) = held(k);
        let mut named: Vec<&str> = ext.iter().chain(name).map(String::as_str).collect();
        named.sort_unstable();
        named.dedup();
        for id in named {
            *user_uses.entry(id).or_default() += 1;
        }
    }
    // What a record settled here stands for: a create, or the one user it matches (as `upsert` would find it).
    enum Alone {
        Create,
        Compare(String),
    }
    let alone = |k: &(Option<String>, Option<String>)| -> Option<Alone> {
        let own_keys = k.0.as_ref().is_none_or(|e| key_uses[&(false, e.as_str())] == 1)
            && k.1.as_ref().is_none_or(|n| key_uses[&(true, n.as_str())] == 1);
        if !own_keys {
            return None;
        }
        let (ext, name) = held(k);
        let found = if ext.is_empty() { name } else { ext };
        match found.as_slice() {
            [] => Some(Alone::Create),
            [id] if ext.iter().chain(name).all(|other| other == id) && user_uses[id.as_str()] == 1 => {
                Some(Alone::Compare(id.clone()))
            }
            _ => None,
        }
    };
    let plan: Vec<Option<Alone>> = keys.iter().map(alone).collect();
    let compare_ids: Vec<String> = plan
        .iter()
        .filter_map(|p| match p {
            Some(Alone::Compare(id)) => Some(id.clone()),
            _ => None,
        })
        .collect();
    let mut current: std::collections::HashMap<String, crate::StoredResource> = store
        .load_resources(kind, &compare_ids)
        .await?
        .into_iter()
        .map(|r| (r.id.clone(), r))
        .collect();
    let schema = registry
        .resource(kind.as_str())
        .ok_or_else(|| StoreError::Corrupt("no schema for User".into()))?;
    let mut outcomes: Vec<Option<Result<(String, Upsert), StoreError>>> = Vec::with_capacity(records.len());
    let mut creates = Vec::new();
    let mut created_at = Vec::new();
    for (i, (r, p)) in records.iter().zip(plan).enumerate() {
        let outcome = match p {
            Some(Alone::Create) => match schema.validate(&r.data, None, ValidateOptions::default()) {
                Ok(valid) => {
                    creates.push(valid);
                    created_at.push(i);
                    None
                }
                Err(e) => Some(Err(e.into())),
            },
            Some(Alone::Compare(id)) => match current.remove(&id) {
                Some(cur) => match changes(&schema, kind, &r.data, &id, cur) {
                    Ok(None) => Some(Ok((id, Upsert::Unchanged))),
                    Ok(Some(_)) => None,
                    Err(e) => Some(Err(e)),
                },
                None => None,
            },
            None => None,
        };
        outcomes.push(outcome);
    }
    for (i, result) in created_at
        .into_iter()
        .zip(store.create_resources(kind, creates, None).await?)
    {
        outcomes[i] = Some(result.map(|created| (created.id, Upsert::Created)));
    }
    for (r, outcome) in records.into_iter().zip(outcomes) {
        let outcome = match outcome {
            Some(o) => o,
            None => upsert(store, registry, &r, false).await,
        };
        settle(r, outcome, report, memberships)?;
    }
    Ok(())
}

async fn apply(
    store: &Store,
    registry: &SchemaRegistry,
    r: Record,
    report: &mut ImportReport,
    memberships: &mut std::collections::BTreeMap<String, Vec<String>>,
    opts: ImportOptions,
) -> Result<(), StoreError> {
    let outcome = upsert(store, registry, &r, opts.dry_run).await;
    if opts.dry_run
        && let Ok((_, change @ (Upsert::Created | Upsert::Updated))) = &outcome
    {
        let name = ["userName", "displayName"]
            .iter()
            .find_map(|a| roster_scim::value::get_ci(&r.data, a).and_then(Value::as_str))
            .unwrap_or("?");
        let verb = if *change == Upsert::Created {
            "create"
        } else {
            "update"
        };
        report
            .plan
            .push(format!("{verb} {}: {} {name}", r.at, r.kind.as_str()));
    }
    settle(r, outcome, report, memberships)
}

/// Counts a record's outcome; a record the directory refused is reported and skipped, any other error stops
/// the import.
fn settle(
    r: Record,
    outcome: Result<(String, Upsert), StoreError>,
    report: &mut ImportReport,
    memberships: &mut std::collections::BTreeMap<String, Vec<String>>,
) -> Result<(), StoreError> {
    match outcome {
        Ok((id, outcome)) => {
            match outcome {
                Upsert::Created => report.created += 1,
                Upsert::Updated => report.updated += 1,
                Upsert::Unchanged => report.unchanged += 1,
            }
            for g in r.groups {
                memberships.entry(g).or_default().push(id.clone());
            }
            Ok(())
        }
        Err(StoreError::Scim(e)) => {
            report.skipped.push((r.at, e.detail));
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// The CSV's rows as records, or (where, why) for a row that cannot be one. A bad header yields nothing and is
/// reported.
fn csv_records<'t>(
    input: impl std::io::Read + 't,
    report: &mut ImportReport,
) -> Box<dyn Iterator<Item = Result<Record, (String, String)>> + 't> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(input);
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            report
                .skipped
                .push(("line 1".into(), format!("the header cannot be read: {e}")));
            return Box::new(std::iter::empty());
        }
    };
    let mut columns = Vec::new();
    for (i, h) in headers.iter().enumerate() {
        if h.eq_ignore_ascii_case("groups") {
            columns.push(None);
            continue;
        }
        match PatchPath::parse(h) {
            Ok(p) => columns.push(Some(p)),
            Err(e) => {
                report.skipped.push((
                    format!("line 1, column {}", i + 1),
                    format!("'{h}' is not an attribute path: {}", e.detail),
                ));
                return Box::new(std::iter::empty());
            }
        }
    }
    Box::new(reader.into_records().map(move |row| {
        let row = row.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            (format!("line {line}"), format!("not valid CSV: {e}"))
        })?;
        let line = row.position().map_or(0, |p| p.line());
        if let Some((i, cell)) = row.iter().enumerate().find(|(_, c)| c.contains(['\n', '\r'])) {
            let lines = cell.lines().count().max(2);
            return Err((
                format!("line {line}"),
                format!(
                    "the quoted field in column {} runs over {lines} lines, to line {}: a quote left open? A value \
                     cannot span lines",
                    i + 1,
                    line + u64::try_from(lines).unwrap_or(1) - 1
                ),
            ));
        }
        if row.len() != columns.len() {
            return Err((
                format!("line {line}"),
                format!("{} fields, but the header has {}", row.len(), columns.len()),
            ));
        }
        let mut data = Map::new();
        let mut groups = Vec::new();
        for (cell, col) in row.iter().zip(&columns) {
            if cell.is_empty() {
                continue;
            }
            match col {
                Some(path) => roster_scim::access::set_path(&mut data, path, Value::String(cell.to_owned())),
                None => groups.extend(
                    cell.split(';')
                        .map(str::trim)
                        .filter(|g| !g.is_empty())
                        .map(str::to_owned),
                ),
            }
        }
        Ok(Record {
            at: format!("line {line}"),
            kind: ResourceKind::User,
            data: Value::Object(data),
            groups,
        })
    }))
}

fn parse_json(text: &str, report: &mut ImportReport) -> Vec<Record> {
    let v: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            report
                .skipped
                .push((format!("line {}", e.line()), format!("not valid JSON: {e}")));
            return Vec::new();
        }
    };
    let mut items: Vec<(Option<ResourceKind>, Value)> = Vec::new();
    match v {
        Value::Array(a) => items.extend(a.into_iter().map(|i| (None, i))),
        Value::Object(mut o) => {
            if let Some(Value::Array(r)) = o.remove("Resources") {
                items.extend(r.into_iter().map(|i| (None, i)));
            }
            for (key, kind) in [("Users", ResourceKind::User), ("Groups", ResourceKind::Group)] {
                if let Some(Value::Array(list)) = o.remove(key) {
                    items.extend(list.into_iter().map(|i| (Some(kind), i)));
                }
            }
        }
        _ => report.skipped.push((
            "the file".into(),
            "expected an array of resources or an object with Users/Groups".into(),
        )),
    }
    items
        .into_iter()
        .enumerate()
        .map(|(i, (kind, data))| {
            let is_group = data.get("schemas").and_then(Value::as_array).is_some_and(|s| {
                s.iter()
                    .any(|u| u.as_str() == Some(roster_scim::schema::CORE_GROUP))
            });
            let kind = kind.unwrap_or(if is_group {
                ResourceKind::Group
            } else {
                ResourceKind::User
            });
            Record {
                at: format!("item {}", i + 1),
                kind,
                data,
                groups: Vec::new(),
            }
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Upsert {
    Created,
    Updated,
    Unchanged,
}

/// The id of the one resource with this `externalId` (`by_name`: this userName or displayName), if one has it;
/// several are an error, since the record cannot tell which to update.
async fn find_by(
    store: &Store,
    kind: ResourceKind,
    by_name: bool,
    value: Option<&Value>,
) -> Result<Option<String>, StoreError> {
    let Some(v) = value.and_then(Value::as_str) else {
        return Ok(None);
    };
    let ids = if by_name {
        store.ids_by_name(kind, v).await?
    } else {
        store.ids_by_external_id(kind, v).await?
    };
    if ids.len() > 1 {
        let attr = if by_name { "this name" } else { "this externalId" };
        return Err(roster_scim::ScimError::uniqueness(format!(
            "several resources have {attr} ('{v}'); cannot tell which to update"
        ))
        .into());
    }
    Ok(ids.into_iter().next())
}

/// Creates or updates the resource a record stands for; with `dry_run`, only says which it would do (a create
/// then has no id).
async fn upsert(
    store: &Store,
    registry: &SchemaRegistry,
    r: &Record,
    dry_run: bool,
) -> Result<(String, Upsert), StoreError> {
    let schema = registry
        .resource(r.kind.as_str())
        .ok_or_else(|| StoreError::Corrupt(format!("no schema for {}", r.kind.as_str())))?;
    let mut data = r.data.clone();
    if r.kind == ResourceKind::Group {
        resolve_member_names(store, &mut data).await?;
    }
    let name_attr = if r.kind == ResourceKind::User {
        "userName"
    } else {
        "displayName"
    };
    let existing = match find_by(store, r.kind, false, data.get("externalId")).await? {
        Some(id) => Some(id),
        None => find_by(store, r.kind, true, roster_scim::value::get_ci(&data, name_attr)).await?,
    };
    let Some(id) = existing else {
        let valid = schema.validate(&data, None, ValidateOptions::default())?;
        if dry_run {
            return Ok((String::new(), Upsert::Created));
        }
        let created = store.create_resource(r.kind, valid).await?;
        return Ok((created.id, Upsert::Created));
    };
    let current = store.get_resource(r.kind, &id).await?.ok_or_else(|| {
        roster_scim::ScimError::not_found(format!("{} {id} vanished during the import", r.kind.as_str()))
    })?;
    let version = current.version;
    let Some(valid) = changes(&schema, r.kind, &data, &id, current)? else {
        return Ok((id, Upsert::Unchanged));
    };
    if dry_run {
        return Ok((id, Upsert::Updated));
    }
    store.replace_resource(r.kind, &id, valid, Some(version)).await?;
    Ok((id, Upsert::Updated))
}

/// What a record makes of the resource it matched: `None` when it holds nothing new, else the attributes to
/// write.
fn changes(
    schema: &roster_scim::ResourceSchema<'_>,
    kind: ResourceKind,
    data: &Value,
    id: &str,
    current: crate::StoredResource,
) -> Result<Option<Map<String, Value>>, StoreError> {
    let mut current_json = current.data.clone();
    current_json.insert("id".into(), Value::String(id.to_owned()));
    let mut valid = schema.validate(
        data,
        Some(&Value::Object(current_json)),
        ValidateOptions::default(),
    )?;
    valid.shift_remove("id");
    valid.shift_remove("meta");
    let mut before = current.data;
    before.shift_remove("groups");
    if kind == ResourceKind::User {
        valid.shift_remove("groups");
    }
    Ok((normalized(&valid) != normalized(&before)).then_some(valid))
}

/// A resource for comparison: members by their ids only (the store adds `type` and keeps `display`).
fn normalized(data: &Map<String, Value>) -> Map<String, Value> {
    let mut d = data.clone();
    if let Some(Value::Array(ms)) = d.get_mut("members") {
        let mut ids: Vec<Value> = ms.iter().filter_map(|m| m.get("value").cloned()).collect();
        ids.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
        *ms = ids;
    }
    d
}

/// A JSON group's members may name users by `userName` instead of id.
async fn resolve_member_names(store: &Store, data: &mut Value) -> Result<(), StoreError> {
    let Some(members) = data.get_mut("members").and_then(Value::as_array_mut) else {
        return Ok(());
    };
    for m in members {
        let Some(v) = m.get("value").and_then(Value::as_str).map(str::to_owned) else {
            continue;
        };
        if store.get_resource(ResourceKind::User, &v).await?.is_some()
            || store.get_resource(ResourceKind::Group, &v).await?.is_some()
        {
            continue;
        }
        match find_by(store, ResourceKind::User, true, Some(&Value::String(v.clone()))).await? {
            Some(id) => m["value"] = Value::String(id),
            None => {
                return Err(roster_scim::ScimError::invalid_value(format!(
                    "member '{v}' is neither an id nor a userName in the directory"
                ))
                .into());
            }
        }
    }
    Ok(())
}

/// Adds users to a group by name (creating the group when missing), in one write. Returns how many were new.
/// Adds users to a group by name (created, as a complete SCIM Group, when missing); with `dry_run`, counts what
/// it would add (users not created yet, with an empty id, count as new members). Returns how many.
async fn add_members(
    store: &Store,
    group: &str,
    user_ids: &[String],
    dry_run: bool,
) -> Result<usize, StoreError> {
    let gid = match store.resolve_group(group).await? {
        Some(id) => id,
        None if dry_run => {
            let distinct: std::collections::HashSet<&String> = user_ids.iter().collect();
            return Ok(distinct.len() + user_ids.iter().filter(|u| u.is_empty()).count().saturating_sub(1));
        }
        None => {
            let data = serde_json::json!({
                "schemas": [roster_scim::schema::CORE_GROUP],
                "displayName": group,
            });
            let schema = SchemaRegistry::new();
            let valid = schema
                .resource("Group")
                .ok_or_else(|| StoreError::Corrupt("no schema for Group".into()))?
                .validate(&data, None, ValidateOptions::default())?;
            store.create_resource(ResourceKind::Group, valid).await?.id
        }
    };
    let current = store.get_resource(ResourceKind::Group, &gid).await?;
    let present: std::collections::HashSet<&str> = current
        .as_ref()
        .and_then(|g| g.data.get("members"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| m.get("value").and_then(Value::as_str))
        .collect();
    let mut seen = std::collections::HashSet::new();
    let changes: Vec<MemberChange> = user_ids
        .iter()
        .filter(|u| !present.contains(u.as_str()) && seen.insert(u.as_str()))
        .map(|u| {
            MemberChange::Add(Member {
                value: u.clone(),
                kind: Some(ResourceKind::User),
                display: None,
            })
        })
        .collect();
    let new_users = user_ids.iter().filter(|u| u.is_empty()).count();
    if dry_run {
        return Ok(changes.len() + new_users.saturating_sub(1));
    }
    if !changes.is_empty() {
        store.patch_members(&gid, &changes, None).await?;
    }
    Ok(changes.len())
}
