//! The storage conformance suite: every test runs against SQLite and PostgreSQL.
//!
//! PostgreSQL comes from `ROSTER_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`); each test
//! gets a schema of its own, dropped when the test passes. Without a reachable server the PostgreSQL half is
//! skipped with a loud message, except under `CI=true`, where it fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use roster_scim::ErrorKind;
use roster_store::{JournalOp, Member, MemberChange, ResourceKind, Scope, Store, StoreError};
use roster_testkit::on_every_backend;
use serde_json::{Map, Value, json};

fn user(name: &str) -> Map<String, Value> {
    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name, "displayName": name,
           "emails": [{"value": format!("{name}@Example.com"), "type": "work"}]})
    .as_object()
    .unwrap()
    .clone()
}

fn group(name: &str, members: &[&str]) -> Map<String, Value> {
    let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name, "members": members})
        .as_object()
        .unwrap()
        .clone()
}

fn scim_kind(r: Result<impl std::fmt::Debug, StoreError>) -> ErrorKind {
    match r {
        Err(StoreError::Scim(e)) => e.kind,
        other => panic!("expected a SCIM error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_read_replace_delete_with_versions_and_journal() {
    on_every_backend!(|store, backend| {
        let u = store
            .create_resource(ResourceKind::User, user("bjensen"))
            .await
            .unwrap();
        assert_eq!(u.version, 1, "{backend}");
        assert_eq!(u.etag(), "W/\"1\"");
        assert_eq!(u.data["userName"], "bjensen");
        assert!(!u.data.contains_key("id"));
        let got = store
            .get_resource(ResourceKind::User, &u.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, u, "{backend}");
        assert!(
            store
                .get_resource(ResourceKind::Group, &u.id)
                .await
                .unwrap()
                .is_none(),
            "{backend}: kind is part of identity"
        );

        let mut changed = user("bjensen");
        changed.insert("title".into(), json!("Guide"));
        assert_eq!(
            scim_kind(
                store
                    .replace_resource(ResourceKind::User, &u.id, changed.clone(), Some(7))
                    .await
            ),
            ErrorKind::PreconditionFailed
        );
        let v2 = store
            .replace_resource(ResourceKind::User, &u.id, changed, Some(1))
            .await
            .unwrap();
        assert_eq!(
            (v2.version, v2.data["title"].as_str()),
            (2, Some("Guide")),
            "{backend}"
        );
        assert_eq!(v2.created, u.created);
        assert!(v2.last_modified >= u.last_modified);

        store
            .delete_resource(ResourceKind::User, &u.id, None)
            .await
            .unwrap();
        assert!(
            store
                .get_resource(ResourceKind::User, &u.id)
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(
            scim_kind(store.delete_resource(ResourceKind::User, &u.id, None).await),
            ErrorKind::NotFound
        );
        assert_eq!(
            scim_kind(
                store
                    .replace_resource(ResourceKind::User, "nope", user("x"), None)
                    .await
            ),
            ErrorKind::NotFound
        );

        let journal = store.journal_since(0, 100).await.unwrap();
        let ops: Vec<(JournalOp, i64)> = journal.iter().map(|j| (j.op, j.version)).collect();
        assert_eq!(
            ops,
            [
                (JournalOp::Create, 1),
                (JournalOp::Update, 2),
                (JournalOp::Delete, 3)
            ],
            "{backend}"
        );
        assert!(journal.windows(2).all(|w| w[0].seq < w[1].seq));
        assert!(
            journal
                .iter()
                .all(|j| j.id == u.id && j.kind == ResourceKind::User)
        );
        assert_eq!(store.journal_since(journal[1].seq, 100).await.unwrap().len(), 1);
        assert_eq!(store.journal_since(0, 2).await.unwrap().len(), 2);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_name_is_unique_case_insensitively() {
    on_every_backend!(|store, backend| {
        let a = store
            .create_resource(ResourceKind::User, user("bjensen"))
            .await
            .unwrap();
        let e = store
            .create_resource(ResourceKind::User, user("BJensen"))
            .await
            .unwrap_err();
        let StoreError::Scim(e) = e else {
            panic!("{backend}: {e:?}")
        };
        assert_eq!(e.kind, ErrorKind::Uniqueness, "{backend}");
        assert_eq!(e.status(), 409);
        assert!(
            e.detail.contains("userName") && !e.detail.contains(&a.id),
            "{backend}: {}",
            e.detail
        );
        let b = store
            .create_resource(ResourceKind::User, user("other"))
            .await
            .unwrap();
        assert_eq!(
            scim_kind(
                store
                    .replace_resource(ResourceKind::User, &b.id, user("BJENSEN"), None)
                    .await
            ),
            ErrorKind::Uniqueness
        );
        // A failed write leaves no trace.
        assert_eq!(store.journal_since(0, 100).await.unwrap().len(), 2, "{backend}");
        assert_eq!(
            store
                .get_resource(ResourceKind::User, &b.id)
                .await
                .unwrap()
                .unwrap()
                .version,
            1
        );
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_members_and_derived_user_groups() {
    on_every_backend!(|store, backend| {
        let alice = store
            .create_resource(ResourceKind::User, user("alice"))
            .await
            .unwrap();
        let bob = store
            .create_resource(ResourceKind::User, user("bob"))
            .await
            .unwrap();
        let team = store
            .create_resource(ResourceKind::Group, group("Team", &[&alice.id]))
            .await
            .unwrap();
        let dept = store
            .create_resource(ResourceKind::Group, group("Dept", &[&team.id, &bob.id]))
            .await
            .unwrap();
        assert_eq!(
            team.data["members"],
            json!([{"value": alice.id, "type": "User", "display": "alice"}]),
            "{backend}"
        );
        let dept_members = dept.data["members"].as_array().unwrap();
        assert_eq!(dept_members.len(), 2);

        let a = store
            .get_resource(ResourceKind::User, &alice.id)
            .await
            .unwrap()
            .unwrap();
        let mut groups = a.data["groups"].as_array().unwrap().clone();
        groups.sort_by_key(|g| g["display"].as_str().unwrap().to_owned());
        assert_eq!(
            groups,
            vec![
                json!({"value": dept.id, "type": "indirect", "display": "Dept"}),
                json!({"value": team.id, "type": "direct", "display": "Team"}),
            ],
            "{backend}"
        );
        // A page of resources reads the same related rows as a read of each (the statements differ).
        let sorted = |mut r: roster_store::StoredResource| {
            for attr in ["groups", "members"] {
                if let Some(Value::Array(items)) = r.data.get_mut(attr) {
                    items.sort_by_key(|g| g["value"].as_str().unwrap().to_owned());
                }
            }
            r
        };
        for (kind, ids) in [
            (ResourceKind::User, vec![bob.id.clone(), alice.id.clone()]),
            (ResourceKind::Group, vec![dept.id.clone(), team.id.clone()]),
        ] {
            let page = store
                .load_resources_with(kind, &ids, roster_store::Related::Read)
                .await
                .unwrap();
            assert_eq!(page.len(), 2, "{backend}");
            for (read, id) in page.into_iter().zip(&ids) {
                let one = store.get_resource(kind, id).await.unwrap().unwrap();
                assert_eq!(sorted(read), sorted(one), "{backend}");
            }
        }

        // Unknown members and a wrong declared type are rejected; the group is unchanged.
        let bad = group("Bad", &["no-such-id"]);
        assert_eq!(
            scim_kind(store.create_resource(ResourceKind::Group, bad).await),
            ErrorKind::InvalidValue
        );
        let mut wrong_type = group("Typed", &[]);
        wrong_type.insert("members".into(), json!([{"value": alice.id, "type": "Group"}]));
        assert_eq!(
            scim_kind(store.create_resource(ResourceKind::Group, wrong_type).await),
            ErrorKind::InvalidValue
        );
        assert_eq!(
            scim_kind(
                store
                    .replace_resource(ResourceKind::Group, &team.id, group("Team", &[&team.id]), None)
                    .await
            ),
            ErrorKind::InvalidValue
        );

        // A cycle does not make reads loop.
        store
            .replace_resource(
                ResourceKind::Group,
                &team.id,
                group("Team", &[&alice.id, &dept.id]),
                None,
            )
            .await
            .unwrap();
        let a = store
            .get_resource(ResourceKind::User, &alice.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(a.data["groups"].as_array().unwrap().len(), 2, "{backend}");

        // Deleting a member updates its groups: new version, journal entry.
        let before = store
            .get_resource(ResourceKind::Group, &dept.id)
            .await
            .unwrap()
            .unwrap()
            .version;
        store
            .delete_resource(ResourceKind::User, &bob.id, None)
            .await
            .unwrap();
        let dept_now = store
            .get_resource(ResourceKind::Group, &dept.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(dept_now.version, before + 1, "{backend}");
        assert_eq!(
            dept_now.data["members"],
            json!([{"value": team.id, "type": "Group", "display": "Team"}])
        );
        let last = store.journal_since(0, 1000).await.unwrap();
        let tail: Vec<(&str, JournalOp)> = last.iter().rev().take(2).map(|j| (j.id.as_str(), j.op)).collect();
        assert_eq!(
            tail,
            [
                (bob.id.as_str(), JournalOp::Delete),
                (dept.id.as_str(), JournalOp::Update)
            ],
            "{backend}"
        );
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_changes_are_small_writes_with_one_journal_entry() {
    on_every_backend!(|store, backend| {
        let mut ids = Vec::new();
        for i in 0..50 {
            ids.push(
                store
                    .create_resource(ResourceKind::User, user(&format!("u{i}")))
                    .await
                    .unwrap()
                    .id,
            );
        }
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let g = store
            .create_resource(ResourceKind::Group, group("Big", &refs[..49]))
            .await
            .unwrap();
        let seq0 = store.journal_since(0, 10_000).await.unwrap().last().unwrap().seq;
        let add = |id: &String| {
            MemberChange::Add(Member {
                value: id.clone(),
                kind: Some(ResourceKind::User),
                display: None,
            })
        };
        let v = store
            .patch_members(&g.id, &[add(&ids[49]), add(&ids[0])], Some(1))
            .await
            .unwrap();
        assert_eq!(v, 2, "{backend}");
        let removes = [
            MemberChange::Remove(ids[1].clone()),
            MemberChange::Remove("not-a-member".into()),
        ];
        let v = store.patch_members(&g.id, &removes, Some(2)).await.unwrap();
        assert_eq!(v, 3);
        let g = store
            .get_resource(ResourceKind::Group, &g.id)
            .await
            .unwrap()
            .unwrap();
        let members: Vec<&str> = g.data["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["value"].as_str().unwrap())
            .collect();
        assert_eq!(members.len(), 49, "{backend}");
        assert!(members.contains(&ids[49].as_str()) && !members.contains(&ids[1].as_str()));
        let entries = store.journal_since(seq0, 100).await.unwrap();
        assert_eq!(
            entries.iter().map(|e| (e.op, e.version)).collect::<Vec<_>>(),
            [(JournalOp::Update, 2), (JournalOp::Update, 3)]
        );
        let wrong_type = MemberChange::Add(Member {
            value: ids[2].clone(),
            kind: Some(ResourceKind::Group),
            display: None,
        });
        assert_eq!(
            scim_kind(store.patch_members(&g.id, &[wrong_type], None).await),
            ErrorKind::InvalidValue
        );
        let stale = [MemberChange::Remove(ids[2].clone())];
        assert_eq!(
            scim_kind(store.patch_members(&g.id, &stale, Some(1)).await),
            ErrorKind::PreconditionFailed
        );
        // Atomic: a failing change undoes the earlier ones of the same request.
        let bad = [
            MemberChange::Remove(ids[3].clone()),
            MemberChange::Add(Member {
                value: "missing".into(),
                kind: None,
                display: None,
            }),
        ];
        assert_eq!(
            scim_kind(store.patch_members(&g.id, &bad, None).await),
            ErrorKind::InvalidValue
        );
        let still = store
            .get_resource(ResourceKind::Group, &g.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (still.version, still.data["members"].as_array().unwrap().len()),
            (3, 49),
            "{backend}"
        );
    });
}

/// Member changes without a version to match commute: made at once (one identity provider's workers, or
/// several roster processes on one PostgreSQL) each is applied once, none refused for another's version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_member_changes_are_each_applied_once() {
    on_every_backend!(|store, backend| {
        let team = store
            .create_resource(ResourceKind::Group, group("Team", &[]))
            .await
            .unwrap();
        let mut tasks = Vec::new();
        for i in 0..16 {
            let s = store.clone();
            let gid = team.id.clone();
            tasks.push(tokio::spawn(async move {
                let u = s
                    .create_resource(ResourceKind::User, user(&format!("m{i}")))
                    .await?;
                let add = [MemberChange::Add(Member {
                    value: u.id,
                    kind: None,
                    display: None,
                })];
                s.patch_members(&gid, &add, None).await
            }));
        }
        let mut versions = Vec::new();
        for t in tasks {
            versions.push(t.await.unwrap().unwrap_or_else(|e| panic!("{backend}: {e}")));
        }
        versions.sort_unstable();
        assert_eq!(
            versions,
            (team.version + 1..=team.version + 16).collect::<Vec<_>>(),
            "{backend}"
        );
        let now = store
            .get_resource(ResourceKind::Group, &team.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            now.data["members"].as_array().map(Vec::len),
            Some(16),
            "{backend}"
        );
        assert_eq!(now.version, team.version + 16, "{backend}");
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_conditional_updates_let_exactly_one_win() {
    on_every_backend!(|store, backend| {
        let u = store
            .create_resource(ResourceKind::User, user("race"))
            .await
            .unwrap();
        let mut tasks = Vec::new();
        for i in 0..8 {
            let s = store.clone();
            let id = u.id.clone();
            tasks.push(tokio::spawn(async move {
                let mut d = user("race");
                d.insert("title".into(), json!(format!("t{i}")));
                s.replace_resource(ResourceKind::User, &id, d, Some(1)).await
            }));
        }
        let mut wins = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(r) => {
                    wins += 1;
                    assert_eq!(r.version, 2);
                }
                Err(StoreError::Scim(e)) => {
                    assert_eq!(e.kind, ErrorKind::PreconditionFailed, "{backend}: {e}")
                }
                Err(e) => panic!("{backend}: {e}"),
            }
        }
        assert_eq!(wins, 1, "{backend}");
        assert_eq!(store.journal_since(0, 100).await.unwrap().len(), 2);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_hashed_verified_listed_and_revoked() {
    on_every_backend!(|store, backend| {
        let secret = store.create_token("okta", Scope::Write).await.unwrap();
        assert!(secret.starts_with("roster_") && secret.len() == 71, "{backend}");
        let read = store.create_token("auditor", Scope::Read).await.unwrap();
        assert_ne!(secret, read);
        let info = store.verify_token(&secret).await.unwrap().unwrap();
        assert_eq!((info.name.as_str(), info.scope), ("okta", Scope::Write));
        assert_eq!(
            store.verify_token(&read).await.unwrap().unwrap().scope,
            Scope::Read
        );
        let ops = store.create_token("ops", Scope::Admin).await.unwrap();
        assert_eq!(
            store.verify_token(&ops).await.unwrap().unwrap().scope,
            Scope::Admin,
            "{backend}"
        );
        assert!(store.revoke_token("ops").await.unwrap());
        let mut wrong = secret.clone();
        wrong.replace_range(10..11, if &secret[10..11] == "0" { "1" } else { "0" });
        assert!(store.verify_token(&wrong).await.unwrap().is_none());
        assert!(store.verify_token("Bearer nonsense").await.unwrap().is_none());
        let list = store.list_tokens().await.unwrap();
        assert_eq!(
            list.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
            ["auditor", "okta"],
            "{backend}"
        );
        assert!(
            list.iter()
                .find(|t| t.name == "okta")
                .unwrap()
                .last_used
                .is_some()
        );
        assert_eq!(
            scim_kind(store.create_token("okta", Scope::Read).await),
            ErrorKind::Conflict
        );
        assert_eq!(
            scim_kind(store.create_token("bad name", Scope::Read).await),
            ErrorKind::InvalidValue
        );
        assert!(store.revoke_token("okta").await.unwrap());
        assert!(!store.revoke_token("okta").await.unwrap());
        assert!(
            store.verify_token(&secret).await.unwrap().is_none(),
            "{backend}: revoked token still works"
        );
    });
}

#[tokio::test]
async fn sqlite_data_survives_reopen_and_migrations_are_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("r.db").display());
    let s = Store::connect(&url).await.unwrap();
    let u = s
        .create_resource(ResourceKind::User, user("persist"))
        .await
        .unwrap();
    s.close().await;
    let s = Store::connect(&url).await.unwrap();
    assert_eq!(
        s.get_resource(ResourceKind::User, &u.id)
            .await
            .unwrap()
            .unwrap()
            .data["userName"],
        "persist"
    );
    s.close().await;
}

#[tokio::test]
async fn bad_urls_are_clear_errors_without_secrets() {
    let e = Store::connect("mysql://root:hunter2@db/x").await.unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("sqlite://PATH or postgres://") && !text.contains("hunter2"),
        "{text}"
    );
}

/// Small deterministic PRNG for generated filters.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

fn gen_filter(rng: &mut Rng, depth: u32) -> String {
    let lits = [
        "ann",
        "ANN",
        "é",
        "Émilie",
        "example",
        "ex",
        ".org",
        "b",
        "zz",
        "ann@example.com",
        "x-1",
        "X-1",
        "%",
        "_",
        "work",
        "HOME",
        "lead",
        "Straße",
        "sales",
        // Whole values of the users below, so equalities (and `or`s of them) find something.
        "ann@example.org",
        "ANN@Example.ORG",
        "4@b.example.com",
        "ann-0",
        "bob-4",
        "émilie",
    ];
    let lit = |rng: &mut Rng| lits[rng.below(lits.len())];
    let ops = ["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"];
    if depth == 0 || rng.below(3) == 0 {
        return match rng.below(16) {
            0 => format!("userName {} \"{}\"", ops[rng.below(9)], lit(rng)),
            1 => format!("externalId {} \"{}\"", ops[rng.below(9)], lit(rng)),
            2 => format!("displayName {} \"{}\"", ops[rng.below(9)], lit(rng)),
            3 => format!(
                "emails.value {} \"{}\"",
                ["eq", "co", "sw", "ew"][rng.below(4)],
                lit(rng)
            ),
            4 => format!(
                "{} pr",
                [
                    "externalId",
                    "displayName",
                    "emails",
                    "userName",
                    "title",
                    "name.givenName",
                    "nickName",
                    "emails.type",
                    "urn:example:params:scim:2.0:Test:level",
                    "active"
                ][rng.below(10)]
            ),
            5 => format!(
                "meta.created {} \"2000-01-01T00:00:00Z\"",
                ["gt", "lt"][rng.below(2)]
            ),
            6 => "externalId eq null".to_owned(),
            7 => format!("title {} \"{}\"", ops[rng.below(9)], lit(rng)),
            8 => format!("name.givenName {} \"{}\"", ops[rng.below(9)], lit(rng)),
            9 => format!(
                "active {} {}",
                ["eq", "ne"][rng.below(2)],
                ["true", "false"][rng.below(2)]
            ),
            10 => format!(
                "emails.type {} \"{}\"",
                ["eq", "ne", "co", "sw", "ew"][rng.below(5)],
                lit(rng)
            ),
            11 => format!(
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department {} \"{}\"",
                ops[rng.below(9)],
                lit(rng)
            ),
            12 => format!(
                "urn:example:params:scim:2.0:Test:level {} {}",
                ["eq", "ne", "gt", "ge", "lt", "le"][rng.below(6)],
                rng.below(6)
            ),
            13 => format!(
                "emails[type eq \"{}\" and value {} \"{}\"]",
                lit(rng),
                ["co", "sw", "ew"][rng.below(3)],
                lit(rng)
            ),
            14 => format!(
                "emails[type {} \"{}\" or primary eq true]",
                ["eq", "ne"][rng.below(2)],
                lit(rng)
            ),
            _ => format!(
                "phoneNumbers.value {} \"{}\"",
                ["eq", "co", "sw"][rng.below(3)],
                ["555", "+1", "x"][rng.below(3)]
            ),
        };
    }
    match rng.below(3) {
        0 => format!(
            "({} and {})",
            gen_filter(rng, depth - 1),
            gen_filter(rng, depth - 1)
        ),
        1 => format!(
            "({} or {})",
            gen_filter(rng, depth - 1),
            gen_filter(rng, depth - 1)
        ),
        _ => format!("not ({})", gen_filter(rng, depth - 1)),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_filters_agree_with_the_reference_evaluator() {
    use roster_scim::{Schema, SchemaRegistry, filter};
    use roster_store::ListQuery;
    let mut reg = SchemaRegistry::new();
    let ext = Schema::from_json(&json!({"id": "urn:example:params:scim:2.0:Test", "attributes": [
        {"name": "level", "type": "integer"}, {"name": "badge", "type": "string", "caseExact": true}]}))
    .unwrap();
    reg.register_extension("User", ext, false).unwrap();
    let users = reg.resource("User").unwrap();
    on_every_backend!(|store, backend| {
        let people = [
            "ann",
            "Ann.B",
            "émilie",
            "Émilie Zola",
            "bob",
            "x-1",
            "X-1b",
            "100%",
            "under_score",
            "zed",
            "STRASSE",
            "straße",
        ];
        let mut all = Vec::new();
        for (i, p) in people.iter().enumerate() {
            let mut d = user(p);
            if i % 2 == 0 {
                d.insert("externalId".into(), json!(format!("{p}-{i}")));
            }
            if i % 3 == 0 {
                d.shift_remove("displayName");
            }
            if i % 4 == 0 {
                d.insert("emails".into(), json!([{"value": format!("{p}@example.org"), "type": "HOME", "primary": true}, {"value": format!("{i}@b.example.com"), "type": "Work"}]));
            }
            if i % 3 != 1 {
                d.insert(
                    "title".into(),
                    json!(["Lead", "engineer", "Émilie's lead", ""][i % 4]),
                );
                d.insert("active".into(), json!(i % 2 == 0));
                d.insert(
                    "name".into(),
                    json!({"givenName": people[(i + 3) % people.len()], "familyName": "X"}),
                );
            }
            if i % 5 != 0 {
                d.insert(
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User".into(),
                    json!({"department": (["Sales", "ops", "SALES-2"][i % 3])}),
                );
                d.insert(
                    "urn:example:params:scim:2.0:Test".into(),
                    json!({"level": i % 6, "badge": format!("B{i}")}),
                );
                d.insert(
                    "phoneNumbers".into(),
                    json!([{"value": format!("+1 555 {i:04}"), "type": "work"}]),
                );
            }
            let d = users
                .validate(&Value::Object(d), None, Default::default())
                .unwrap();
            let r = store.create_resource(ResourceKind::User, d).await.unwrap();
            let mut full = r.data.clone();
            full.insert("id".into(), json!(r.id));
            full.insert("meta".into(), r.meta("http://x").to_value());
            all.push((r.id.clone(), Value::Object(full)));
        }
        let mut rng = Rng(0x1234_5678);
        let mut checked = 0;
        for _ in 0..1500 {
            let text = gen_filter(&mut rng, 3);
            let f = filter::parse(&text).unwrap();
            f.check(&users).unwrap_or_else(|e| panic!("{text}: {e}"));
            let mut want: Vec<&str> = all
                .iter()
                .filter(|(_, v)| filter::matches(&f, v, Some(&users)))
                .map(|(id, _)| id.as_str())
                .collect();
            want.sort();
            let page = store
                .list_resources(
                    ResourceKind::User,
                    &ListQuery {
                        filter: Some(&f),
                        limit: 100,
                        schema: Some(&users),
                        ..Default::default()
                    },
                )
                .await;
            let page = page.unwrap_or_else(|e| panic!("{backend}: {text}: {e}"));
            let mut got: Vec<&str> = page.resources.iter().map(|r| r.id.as_str()).collect();
            got.sort();
            assert_eq!(got, want, "{backend}: {text}");
            assert_eq!(page.total as usize, want.len());
            checked += usize::from(!want.is_empty() && want.len() < people.len());
        }
        assert!(checked > 400, "{backend}: too few selective filters ({checked})");

        // Paging and sorting.
        let sort = roster_scim::AttrPath::parse("userName").unwrap();
        let mut seen = Vec::new();
        for page in 0..4 {
            let q = ListQuery {
                sort_by: Some(&sort),
                offset: page * 3,
                limit: 3,
                ..Default::default()
            };
            let p = store.list_resources(ResourceKind::User, &q).await.unwrap();
            assert_eq!(p.total, people.len() as u64);
            seen.extend(
                p.resources
                    .into_iter()
                    .map(|r| r.data["userName"].as_str().unwrap().to_lowercase()),
            );
        }
        let mut sorted = seen.clone();
        sorted.sort();
        assert_eq!(seen, sorted, "{backend}: sortBy userName");
        assert_eq!(seen.len(), people.len());
        let only_total = store
            .list_resources(
                ResourceKind::User,
                &ListQuery {
                    limit: 0,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(
            (only_total.total, only_total.resources.len()),
            (people.len() as u64, 0)
        );

        // Attributes not translated yet are a clear invalidFilter, not a wrong answer; caseExact extension
        // strings compare exactly against the stored resource.
        let count = |text: &str| {
            let f = filter::parse(text).unwrap();
            let store = store.clone();
            let users = &users;
            async move {
                let q = ListQuery {
                    filter: Some(&f),
                    limit: 10,
                    schema: Some(users),
                    ..Default::default()
                };
                store
                    .list_resources(ResourceKind::User, &q)
                    .await
                    .map(|p| p.total)
            }
        };
        for text in [r#"x509Certificates.value eq "x""#, r#"groups.type eq "direct""#] {
            assert_eq!(
                scim_kind(count(text).await),
                ErrorKind::InvalidFilter,
                "{backend}: {text}"
            );
        }
        assert_eq!(
            count(r#"urn:example:params:scim:2.0:Test:badge eq "B1""#)
                .await
                .unwrap(),
            1,
            "{backend}"
        );
        assert_eq!(
            count(r#"urn:example:params:scim:2.0:Test:badge eq "b1""#)
                .await
                .unwrap(),
            0,
            "{backend}"
        );
        for (text, want) in [
            (r#"urn:example:params:scim:2.0:Test:badge sw "B""#, 9),
            (r#"urn:example:params:scim:2.0:Test:badge sw "b""#, 0),
        ] {
            assert_eq!(count(text).await.unwrap(), want, "{backend}: caseExact {text}");
        }
    });
}

/// `co`/`sw`/`ew` on userName, displayName and emails.value go through trigram indexes (FTS5 on SQLite, pg_trgm
/// on PostgreSQL) that writes keep in step: a renamed user is found by its new name only, replaced emails by
/// the new address only, a deleted user not at all; literals with quotes, backslashes and LIKE wildcards are
/// matched literally.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn substring_filters_follow_writes() {
    use roster_scim::filter;
    use roster_store::ListQuery;
    on_every_backend!(|store, backend| {
        let names = |text: &'static str| {
            let store = store.clone();
            async move {
                let f = filter::parse(text).unwrap();
                let q = ListQuery {
                    filter: Some(&f),
                    limit: 50,
                    ..Default::default()
                };
                let page = store.list_resources(ResourceKind::User, &q).await.unwrap();
                let mut names: Vec<String> = page
                    .resources
                    .iter()
                    .map(|r| r.data["userName"].as_str().unwrap().to_owned())
                    .collect();
                names.sort();
                assert_eq!(page.total as usize, names.len(), "{text}");
                names
            }
        };
        let mut ids = Vec::new();
        for n in [
            "alice.long@example.com",
            "bob_100%@example.com",
            r#"quo"te\back@example.com"#,
            "zoë.ünïcode@example.com",
            "ALICE.UPPER@example.com",
        ] {
            ids.push(
                store
                    .create_resource(ResourceKind::User, user(n))
                    .await
                    .unwrap()
                    .id,
            );
        }
        assert_eq!(
            names(r#"userName co "alice""#).await,
            ["ALICE.UPPER@example.com", "alice.long@example.com"],
            "{backend}"
        );
        assert_eq!(
            names(r#"userName co "_100%@""#).await,
            ["bob_100%@example.com"],
            "{backend}"
        );
        assert!(
            names(r#"userName co "bo_""#).await.is_empty(),
            "{backend}: _ is literal"
        );
        assert!(
            names(r#"userName co "b%e""#).await.is_empty(),
            "{backend}: % is literal"
        );
        assert_eq!(
            names(r#"userName co "o\"te\\b""#).await,
            [r#"quo"te\back@example.com"#],
            "{backend}"
        );
        assert_eq!(
            names(r#"displayName sw "ZOË.Ü""#).await,
            ["zoë.ünïcode@example.com"],
            "{backend}"
        );
        assert_eq!(
            names(r#"emails.value ew "UPPER@EXAMPLE.COM@EXAMPLE.COM""#).await,
            ["ALICE.UPPER@example.com"],
            "{backend}"
        );
        assert!(
            names(r#"userName sw "long""#).await.is_empty(),
            "{backend}: sw is a prefix"
        );
        assert!(
            names(r#"userName ew "alice""#).await.is_empty(),
            "{backend}: ew is a suffix"
        );
        assert_eq!(
            names(r#"not (userName co "example")"#).await,
            Vec::<String>::new(),
            "{backend}"
        );

        // A rename and new emails: the old values are gone from the index, the new ones are in it.
        let mut renamed = user("carol.new@example.org");
        renamed.insert("displayName".into(), json!("Carol Renamed"));
        renamed.insert("emails".into(), json!([{"value": "carol.mail@elsewhere.test"}]));
        store
            .replace_resource(ResourceKind::User, &ids[0], renamed, None)
            .await
            .unwrap();
        assert_eq!(
            names(r#"userName co "alice""#).await,
            ["ALICE.UPPER@example.com"],
            "{backend}"
        );
        assert_eq!(
            names(r#"userName co "carol.n""#).await,
            ["carol.new@example.org"],
            "{backend}"
        );
        assert_eq!(
            names(r#"displayName co "renamed""#).await,
            ["carol.new@example.org"],
            "{backend}"
        );
        assert_eq!(
            names(r#"emails.value co "elsewhere""#).await,
            ["carol.new@example.org"],
            "{backend}"
        );
        assert!(
            names(r#"emails.value co "alice.long""#).await.is_empty(),
            "{backend}"
        );

        // A deletion takes every value along.
        store
            .delete_resource(ResourceKind::User, &ids[4], None)
            .await
            .unwrap();
        assert!(names(r#"userName co "upper""#).await.is_empty(), "{backend}");
        assert!(names(r#"emails.value co "upper""#).await.is_empty(), "{backend}");
        assert_eq!(names(r#"userName ew ".com""#).await.len(), 3, "{backend}");
    });
}

/// On PostgreSQL a directory write or an app change by one process wakes the engine of every other process on
/// the same database at once (LISTEN/NOTIFY), rather than at its next poll, also when the writing process
/// closes its store right after the write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_writes_wake_other_processes() {
    let Some((url, schema)) = roster_testkit::pg_schema_url().await else {
        return;
    };
    let writer = Store::connect(&url).await.unwrap();
    let other = Store::connect(&url).await.unwrap();
    let changes = other.changes();
    for what in ["directory write", "app change"] {
        let notified = changes.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if what == "directory write" {
            writer
                .create_resource(ResourceKind::User, user("far.away@example.com"))
                .await
                .unwrap();
        } else {
            writer
                .create_app("crm", &json!({"url": "http://127.0.0.1:9/scim"}), None)
                .await
                .unwrap();
        }
        tokio::time::timeout(std::time::Duration::from_secs(10), notified)
            .await
            .unwrap_or_else(|_| panic!("the other process was not woken by a {what}"));
    }
    // A short-lived process (`roster import`) that writes and closes at once still wakes the others.
    let brief = Store::connect(&url).await.unwrap();
    let notified = changes.notified();
    tokio::pin!(notified);
    notified.as_mut().enable();
    brief
        .create_resource(ResourceKind::User, user("brief.visit@example.com"))
        .await
        .unwrap();
    brief.close().await;
    drop(brief);
    tokio::time::timeout(std::time::Duration::from_secs(10), notified)
        .await
        .expect("the other process was not woken by the write of a process that closed right after it");
    drop(writer);
    drop(other);
    roster_testkit::drop_schema(&schema).await;
}

/// A run of creates in one transaction (what `/Bulk` does) gives each item the result it would have alone: a
/// taken userName or a missing member fails that item only, leaving nothing of it behind; `max_errors` stops the
/// run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_creates_fail_item_by_item() {
    on_every_backend!(|store, backend| {
        let before = store.journal_head().await.unwrap();
        let results = store
            .create_resources(
                ResourceKind::User,
                vec![user("one"), user("two"), user("ONE"), user("three")],
                None,
            )
            .await
            .unwrap();
        let kinds: Vec<Option<ErrorKind>> = results
            .iter()
            .map(|r| match r {
                Ok(_) => None,
                Err(StoreError::Scim(e)) => Some(e.kind),
                Err(e) => panic!("{backend}: {e}"),
            })
            .collect();
        assert_eq!(
            kinds,
            [None, None, Some(ErrorKind::Uniqueness), None],
            "{backend}"
        );
        let one = results[0].as_ref().unwrap();
        assert_eq!(one.data["userName"], "one");
        assert_eq!(one.version, 1);
        let journal = store.journal_since(before, 100).await.unwrap();
        assert_eq!(journal.len(), 3, "{backend}: one entry per created user");

        let groups = store
            .create_resources(
                ResourceKind::Group,
                vec![
                    group("ok", &[&one.id]),
                    group("bad", &["no-such-id"]),
                    group("also ok", &[]),
                ],
                None,
            )
            .await
            .unwrap();
        assert!(groups[0].is_ok() && groups[2].is_ok(), "{backend}");
        assert_eq!(
            scim_kind(groups[1].as_ref().map(|_| ()).map_err(clone_err)),
            ErrorKind::InvalidValue
        );
        assert_eq!(
            groups[0].as_ref().unwrap().data["members"][0]["value"],
            json!(one.id)
        );

        // A clean run (the multi-row path): every user, journalled in the order given.
        let head = store.journal_head().await.unwrap();
        let clean = store
            .create_resources(
                ResourceKind::User,
                (0..7).map(|i| user(&format!("clean{i}"))).collect(),
                None,
            )
            .await
            .unwrap();
        let ids: Vec<String> = clean.into_iter().map(|r| r.unwrap().id).collect();
        let journalled: Vec<String> = store
            .journal_since(head, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(journalled, ids, "{backend}");
        let q = roster_scim::filter::parse(r#"emails.value co "clean6@""#).unwrap();
        let found = store
            .list_resources(
                ResourceKind::User,
                &roster_store::ListQuery {
                    filter: Some(&q),
                    limit: 5,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(
            found.resources[0].id, ids[6],
            "{backend}: emails and their index rows written"
        );

        let stopped = store
            .create_resources(
                ResourceKind::User,
                vec![user("four"), user("two"), user("five")],
                Some(1),
            )
            .await
            .unwrap();
        assert_eq!(
            stopped.len(),
            2,
            "{backend}: nothing is tried after the first failure"
        );
        let five = roster_scim::filter::parse(r#"userName eq "five""#).unwrap();
        let q = roster_store::ListQuery {
            filter: Some(&five),
            limit: 1,
            ..Default::default()
        };
        assert_eq!(
            store.list_resources(ResourceKind::User, &q).await.unwrap().total,
            0
        );
        let all = roster_store::ListQuery {
            limit: 0,
            ..Default::default()
        };
        assert_eq!(
            store
                .list_resources(ResourceKind::User, &all)
                .await
                .unwrap()
                .total,
            11,
            "{backend}: one, two, three, seven clean, four"
        );
    });
}

fn clone_err(e: &StoreError) -> StoreError {
    match e {
        StoreError::Scim(s) => StoreError::Scim(s.clone()),
        other => panic!("expected a SCIM error, got {other:?}"),
    }
}

/// Keyset paging (the cursor behind RFC 9865 paging): each page after the last resource of the one before
/// covers every resource once, ascending and descending.
/// Creates `n` users named `{prefix}00`, `{prefix}01`, … and returns their ids in the listing order: creation
/// time, then id (resources made in the same microsecond tie on time).
async fn create_in_listing_order(store: &Store, prefix: &str, n: usize) -> Vec<String> {
    let items = (0..n).map(|i| user(&format!("{prefix}{i:02}"))).collect();
    let mut created: Vec<(i64, String)> = store
        .create_resources(ResourceKind::User, items, None)
        .await
        .unwrap()
        .into_iter()
        .map(|r| {
            let p = roster_store::Position::of(&r.unwrap());
            (p.created, p.id)
        })
        .collect();
    created.sort();
    created.into_iter().map(|(_, id)| id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyset_pages_cover_everything_once() {
    use roster_store::{ListQuery, Position};
    on_every_backend!(|store, backend| {
        let created = create_in_listing_order(store, "key", 11).await;
        for order in [
            roster_scim::messages::SortOrder::Ascending,
            roster_scim::messages::SortOrder::Descending,
        ] {
            let mut seen: Vec<String> = Vec::new();
            let mut after: Option<Position> = None;
            loop {
                let q = ListQuery {
                    limit: 4,
                    sort_order: order,
                    after: after.as_ref(),
                    ..Default::default()
                };
                let page = store.list_resources(ResourceKind::User, &q).await.unwrap();
                assert_eq!(page.total, 11, "{backend}");
                let Some(last) = page.resources.last() else { break };
                after = Some(Position::of(last));
                seen.extend(page.resources.iter().map(|r| r.id.clone()));
            }
            let mut want = created.clone();
            if order == roster_scim::messages::SortOrder::Descending {
                want.reverse();
            }
            assert_eq!(seen, want, "{backend}: {order:?}");
        }
    });
}

/// Offset pages in the default order hold the right resources and the right total wherever they end: a page
/// that is full, one that ends the listing, one past the end, an empty count-only one; and a key lookup that
/// matches, that matches nothing, and whose page is past its one match.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offset_pages_carry_their_total_wherever_they_end() {
    use roster_store::ListQuery;
    on_every_backend!(|store, backend| {
        let created = create_in_listing_order(store, "page", 11).await;
        for limit in [0usize, 1, 3, 4, 11, 12] {
            for offset in 0..13usize {
                let q = ListQuery {
                    limit: limit as u64,
                    offset: offset as u64,
                    ..Default::default()
                };
                let page = store.list_resources(ResourceKind::User, &q).await.unwrap();
                let want: Vec<String> = created.iter().skip(offset).take(limit).cloned().collect();
                let got: Vec<String> = page.resources.iter().map(|r| r.id.clone()).collect();
                assert_eq!(
                    (page.total, got),
                    (11, want),
                    "{backend}: limit {limit}, offset {offset}"
                );
            }
        }
        let users = roster_scim::SchemaRegistry::new();
        let users = users.resource("User").unwrap();
        for (text, offset, limit, total, found) in [
            (r#"userName eq "PAGE03""#, 0, 10, 1, 1),
            (r#"userName eq "page03""#, 0, 1, 1, 1),
            (r#"userName eq "page03""#, 1, 10, 1, 0),
            (r#"userName eq "nobody""#, 0, 10, 0, 0),
            (r#"userName eq "nobody""#, 5, 10, 0, 0),
            (r#"userName eq "page03""#, 0, 0, 1, 0),
        ] {
            let f = roster_scim::filter::parse(text).unwrap();
            let q = ListQuery {
                filter: Some(&f),
                limit,
                offset,
                schema: Some(&users),
                ..Default::default()
            };
            let page = store.list_resources(ResourceKind::User, &q).await.unwrap();
            assert_eq!(
                (page.total, page.resources.len()),
                (total, found),
                "{backend}: {text} at offset {offset}, limit {limit}"
            );
        }
    });
}

/// Filters on a User's derived `groups` (direct and nested) run in SQL and agree with the reference evaluator
/// on the rendered users.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_filters_follow_nesting() {
    use roster_scim::{SchemaRegistry, filter};
    use roster_store::ListQuery;
    let reg = SchemaRegistry::new();
    let users = reg.resource("User").unwrap();
    on_every_backend!(|store, backend| {
        let mut ids = Vec::new();
        for n in ["u1", "u2", "u3", "u4"] {
            ids.push(
                store
                    .create_resource(ResourceKind::User, user(n))
                    .await
                    .unwrap()
                    .id,
            );
        }
        let g2 = store
            .create_resource(ResourceKind::Group, group("G-Two", &[&ids[1]]))
            .await
            .unwrap()
            .id;
        let g1 = store
            .create_resource(ResourceKind::Group, group("G-One", &[&ids[0], &g2]))
            .await
            .unwrap()
            .id;
        store
            .create_resource(ResourceKind::Group, group("Other", &[&ids[2]]))
            .await
            .unwrap();
        let mut rendered = Vec::new();
        for id in &ids {
            let r = store.get_resource(ResourceKind::User, id).await.unwrap().unwrap();
            let mut full = r.data.clone();
            full.insert("id".into(), json!(r.id));
            rendered.push((r.id.clone(), Value::Object(full)));
        }
        let cases = [
            (format!(r#"groups.value eq "{g1}""#), vec![0, 1]),
            (format!(r#"groups eq "{g2}""#), vec![1]),
            (r#"groups.display eq "g-two""#.to_owned(), vec![1]),
            (r#"groups.display sw "G-""#.to_owned(), vec![0, 1]),
            (r#"groups.display co "the""#.to_owned(), vec![2]),
            ("groups pr".to_owned(), vec![0, 1, 2]),
            ("not (groups pr)".to_owned(), vec![3]),
            (format!(r#"groups.value ne "{g1}""#), vec![2, 3]),
        ];
        for (text, want) in cases {
            let f = filter::parse(&text).unwrap();
            f.check(&users).unwrap_or_else(|e| panic!("{text}: {e}"));
            let page = store
                .list_resources(
                    ResourceKind::User,
                    &ListQuery {
                        filter: Some(&f),
                        limit: 10,
                        schema: Some(&users),
                        ..Default::default()
                    },
                )
                .await
                .unwrap_or_else(|e| panic!("{backend}: {text}: {e}"));
            let mut got: Vec<&str> = page.resources.iter().map(|r| r.id.as_str()).collect();
            got.sort();
            let mut want: Vec<&str> = want.iter().map(|&i| ids[i].as_str()).collect();
            want.sort();
            assert_eq!(got, want, "{backend}: {text}");
            let mut eval: Vec<&str> = rendered
                .iter()
                .filter(|(_, v)| filter::matches(&f, v, Some(&users)))
                .map(|(id, _)| id.as_str())
                .collect();
            eval.sort();
            assert_eq!(got, eval, "{backend}: {text} against the evaluator");
        }
    });
}

/// Single creates made at the same time are written together (group commit), yet each gets the result it would
/// have alone: of several creates of one userName exactly one succeeds, the others are refused with
/// `uniqueness` and leave nothing behind, and every other create is kept, journalled once, with its own data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_each_get_their_own_result() {
    on_every_backend!(|store, backend| {
        let before = store.journal_head().await.unwrap();
        let mut tasks = Vec::new();
        for i in 0..80 {
            let store = store.clone();
            // Every tenth create asks for the same userName, in another case each time.
            let name = if i % 10 == 0 {
                if i % 20 == 0 {
                    "Same".to_owned()
                } else {
                    "sAME".to_owned()
                }
            } else {
                format!("user{i}")
            };
            tasks.push(tokio::spawn(async move {
                let kind = if i % 10 == 5 {
                    ResourceKind::Group
                } else {
                    ResourceKind::User
                };
                let data = if kind == ResourceKind::Group {
                    group(&format!("group{i}"), &[])
                } else {
                    user(&name)
                };
                (kind, name, store.create_resource(kind, data).await)
            }));
        }
        let (mut created, mut refused) = (0, 0);
        for t in tasks {
            let (kind, name, result) = t.await.unwrap();
            match result {
                Ok(r) => {
                    created += 1;
                    assert_eq!(r.kind, kind, "{backend}");
                    if kind == ResourceKind::User {
                        assert_eq!(
                            r.data["userName"],
                            json!(name),
                            "{backend}: each create gets its own resource"
                        );
                    }
                    let again = store.get_resource(kind, &r.id).await.unwrap().unwrap();
                    assert_eq!(again.version, 1, "{backend}");
                }
                Err(e) => {
                    assert!(
                        name.eq_ignore_ascii_case("same"),
                        "{backend}: {name} refused: {e}"
                    );
                    assert_eq!(scim_kind(Err::<(), _>(e)), ErrorKind::Uniqueness, "{backend}");
                    refused += 1;
                }
            }
        }
        // Eight creates named "same" (i = 0, 10, …, 70): one wins.
        assert_eq!((created, refused), (73, 7), "{backend}");
        let journal = store.journal_since(before, 1000).await.unwrap();
        assert_eq!(
            journal.len(),
            73,
            "{backend}: one journal entry per created resource"
        );
        let mut ids: Vec<&str> = journal.iter().map(|j| j.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 73, "{backend}");
    });
}

/// Creates 2,000 users `person0`…`person1999` (the 500 of a chunk in one call), each filled in by `fill` with its
/// number.
async fn add_people(
    store: &Store,
    users: &roster_scim::ResourceSchema<'_>,
    fill: impl Fn(usize, &mut Map<String, Value>),
) {
    for chunk in 0..4 {
        let items = (0..500)
            .map(|i| {
                let n = chunk * 500 + i;
                let mut d = user(&format!("person{n}"));
                fill(n, &mut d);
                users
                    .validate(&Value::Object(d), None, Default::default())
                    .unwrap()
            })
            .collect();
        for r in store
            .create_resources(ResourceKind::User, items, None)
            .await
            .unwrap()
        {
            r.unwrap();
        }
    }
}

/// How many users the filter `text` matches.
async fn count_matching(store: &Store, users: &roster_scim::ResourceSchema<'_>, text: &str) -> u64 {
    let f = roster_scim::filter::parse(text).unwrap();
    let q = roster_store::query::ListQuery {
        filter: Some(&f),
        limit: 0,
        schema: Some(users),
        ..Default::default()
    };
    store.list_resources(ResourceKind::User, &q).await.unwrap().total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_attribute_filters_use_their_expression_indexes() {
    on_every_backend!(|store, backend| {
        let reg = roster_scim::SchemaRegistry::new();
        let users = reg.resource("User").unwrap();
        // Enough users that a scan costs more than an index lookup to PostgreSQL's planner.
        add_people(store, &users, |n, d| {
            d.insert(
                "name".into(),
                json!({"givenName": format!("Given{n}"), "familyName": format!("Family{}", n % 97)}),
            );
            d.insert(
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User".into(),
                json!({"employeeNumber": format!("E{n}"), "manager": {"value": format!("m{}", n % 50)}}),
            );
        })
        .await;
        for (text, index, want) in [
            (r#"name.familyName eq "FAMILY7""#, "resources_family_name", 21),
            (
                r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "e42""#,
                "resources_employee_number",
                1,
            ),
        ] {
            let page = list_through_index(store, &users, backend, text, index).await;
            assert_eq!(page.total, want, "{backend}: {text}");
            assert_eq!(page.resources.len() as u64, want, "{backend}: {text}");
            // `not (…)` keeps absent values: every other user matches.
            assert_eq!(
                count_matching(store, &users, &format!("not ({text})")).await,
                2000 - want,
                "{backend}: not ({text})"
            );
        }
    });
}

/// A listing of the first 100 users that `f` matches.
fn first_users<'a>(
    f: &'a roster_scim::filter::Filter,
    users: &'a roster_scim::ResourceSchema<'a>,
) -> roster_store::ListQuery<'a> {
    roster_store::ListQuery {
        filter: Some(f),
        limit: 100,
        schema: Some(users),
        ..Default::default()
    }
}

/// The database's plan of a listing of users, one line per step.
async fn plan_of(store: &Store, q: &roster_store::ListQuery<'_>) -> String {
    store
        .explain_listing(ResourceKind::User, q)
        .await
        .unwrap()
        .join("\n")
}

/// The first 100 users that the filter `text` matches, after checking that the listing's plan uses `index`.
async fn list_through_index(
    store: &Store,
    users: &roster_scim::ResourceSchema<'_>,
    backend: &str,
    text: &str,
    index: &str,
) -> roster_store::query::Page {
    let f = roster_scim::filter::parse(text).unwrap();
    let q = first_users(&f, users);
    let plan = plan_of(store, &q).await;
    assert!(
        plan.contains(index),
        "{backend}: {text} does not use {index}:\n{plan}"
    );
    store.list_resources(ResourceKind::User, &q).await.unwrap()
}

/// An equality on a column of its own (`userName`, `displayName`, `externalId`: an identity provider's lookup
/// before it creates) is an index lookup on both databases. On PostgreSQL it is compared without `COLLATE "C"`,
/// which would keep the planner from the column's index (collated as the database is) and walk every user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_equalities_use_their_indexes() {
    on_every_backend!(|store, backend| {
        let reg = roster_scim::SchemaRegistry::new();
        let users = reg.resource("User").unwrap();
        add_people(store, &users, |n, d| {
            d.insert("externalId".into(), json!(format!("X{n}")));
        })
        .await;
        for (text, index) in [
            (r#"userName eq "PERSON42""#, "resources_user_name"),
            (r#"displayName eq "person42""#, "resources_display_name"),
            (r#"externalId eq "X42""#, "resources_external_id"),
        ] {
            let page = list_through_index(store, &users, backend, text, index).await;
            let names: Vec<&str> = page
                .resources
                .iter()
                .filter_map(|r| r.data.get("userName").and_then(Value::as_str))
                .collect();
            assert_eq!((page.total, names), (1, vec!["person42"]), "{backend}: {text}");
        }
    });
}

/// Matching's question, `userName eq "x" or emails.value eq "x"`, and the other `or`s of indexed equalities are
/// answered through the indexes (a union of lookups), not by probing every user; `emails.value eq` alone too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn or_of_indexed_equalities_is_a_union_of_index_lookups() {
    on_every_backend!(|store, backend| {
        let reg = roster_scim::SchemaRegistry::new();
        let users = reg.resource("User").unwrap();
        add_people(store, &users, |n, d| {
            d.insert("externalId".into(), json!(format!("ext{n}")));
        })
        .await;
        let lookup = "resource_values_lookup";
        for (text, indexes, want) in [
            (
                r#"userName eq "PERSON7" or emails.value eq "person8@EXAMPLE.com""#,
                &["resources_user_name", lookup][..],
                &["person7", "person8"][..],
            ),
            // The same account found by both terms is listed once.
            (
                r#"userName eq "person9" or emails.value eq "Person9@example.com""#,
                &["resources_user_name", lookup],
                &["person9"],
            ),
            (
                r#"emails.value eq "person10@example.com""#,
                &[lookup],
                &["person10"],
            ),
            (
                r#"externalId eq "ext11" or (displayName eq "PERSON12" or emails.value eq "nobody@example.com")"#,
                &["resources_external_id", "resources_display_name", lookup],
                &["person11", "person12"],
            ),
        ] {
            let f = roster_scim::filter::parse(text).unwrap();
            let q = first_users(&f, &users);
            let plan = plan_of(store, &q).await;
            if backend == "sqlite" {
                for index in indexes {
                    assert!(
                        plan.contains(index),
                        "{backend}: {text} does not use {index}:\n{plan}"
                    );
                }
                assert!(
                    !plan.contains("SCAN r") && !plan.contains("resources_created"),
                    "{backend}: {text} walks the users:\n{plan}"
                );
            } else {
                // PostgreSQL picks among the indexes by its statistics, which a table filled a moment ago does
                // not have yet; what must hold is that no user is read but the ones the lookups found.
                assert!(
                    plan.contains(lookup) && plan.contains("resources_pkey") && !plan.contains("Seq Scan"),
                    "{backend}: {text} reads more than the lookups found:\n{plan}"
                );
            }
            let page = store.list_resources(ResourceKind::User, &q).await.unwrap();
            let mut names: Vec<&str> = page
                .resources
                .iter()
                .filter_map(|r| r.data.get("userName").and_then(Value::as_str))
                .collect();
            names.sort_unstable();
            assert_eq!(names, want, "{backend}: {text}");
            assert_eq!(page.total, want.len() as u64, "{backend}: {text}");
            // `not (…)` keeps absent values: every other user matches.
            assert_eq!(
                count_matching(store, &users, &format!("not ({text})")).await,
                2000 - want.len() as u64,
                "{backend}: not ({text})"
            );
        }
    });
}

/// Filters made from the whole User schema (any attribute and sub-attribute, misspelled and differently cased
/// names, values of every JSON type including arbitrary Unicode, `%`, `_` and quotes, value paths, `and`/`or`
/// chains, `not`), sampled with proptest: every one that passes the schema check is answered by the store with
/// exactly the users the reference evaluator selects, never a database error. This is the `filter_sql` fuzz
/// target's property, run on both databases in the test suite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_filter_that_passes_the_check_is_answered_like_the_evaluator() {
    use proptest::prelude::*;
    use proptest::strategy::ValueTree as _;
    use roster_scim::{AttrPath, CompValue, CompareOp, Filter, SchemaRegistry, filter};
    use roster_store::ListQuery;

    const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    let paths = [
        "userName",
        "USERNAME",
        "displayName",
        "externalId",
        "id",
        "title",
        "nickName",
        "active",
        "Active",
        "emails",
        "emails.value",
        "Emails.Value",
        "emails.type",
        "emails.primary",
        "emails.display",
        "name",
        "name.givenName",
        "name.familyName",
        "name.formatted",
        "meta.created",
        "meta.lastModified",
        "meta.resourceType",
        "meta.version",
        "phoneNumbers.value",
        "phoneNumbers.type",
        "addresses.postalCode",
        "addresses.primary",
        "groups",
        "groups.value",
        "groups.display",
        "x509Certificates.value",
        "locale",
        "timezone",
        "userType",
        "preferredLanguage",
        "profileUrl",
        "roles.value",
        "entitlements.value",
        "urn:ietf:params:scim:schemas:core:2.0:User:userName",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter",
        "nosuch",
        "emails.nosuch",
        "password",
    ];
    let path = proptest::sample::select(paths.to_vec()).prop_map(|p| AttrPath::parse(p).unwrap());
    let value = prop_oneof![
        Just(CompValue::Null),
        any::<bool>().prop_map(CompValue::Bool),
        (-3i64..1_000_000).prop_map(|i| CompValue::Number(i.into())),
        any::<i64>().prop_map(|i| CompValue::Number(i.into())),
        any::<f64>()
            .prop_filter_map("finite", serde_json::Number::from_f64)
            .prop_map(CompValue::Number),
        proptest::sample::select(vec![
            "ann",
            "ANN",
            "a",
            "",
            "%",
            "_",
            "\"",
            "\\",
            "'",
            "é",
            "É",
            "ß",
            "SS",
            "İ",
            "ı",
            "x-1",
            "ann@example.org",
            "2000-01-01T00:00:00Z",
            "2100-01-01T00:00:00.5+09:00",
            "User",
            "Sales",
            "work",
            "+1 555",
            "0",
        ])
        .prop_map(|s| CompValue::Str(s.to_owned())),
        any::<String>().prop_map(CompValue::Str),
    ];
    let op = proptest::sample::select(CompareOp::ALL.to_vec());
    let leaf = prop_oneof![
        4 => (path.clone(), op, value).prop_map(|(path, op, value)| Filter::Compare { path, op, value }),
        1 => path.clone().prop_map(Filter::Present),
    ];
    let combine = |inner: BoxedStrategy<Filter>| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 2..5).prop_map(Filter::And),
            proptest::collection::vec(inner.clone(), 2..5).prop_map(Filter::Or),
            inner.prop_map(|a| Filter::Not(Box::new(a))),
        ]
    };
    let inner = leaf
        .clone()
        .boxed()
        .prop_recursive(2, 8, 4, move |i| combine(i).boxed())
        .boxed();
    let value_path = (path, inner).prop_map(|(attr, f)| Filter::ValuePath {
        attr: AttrPath { sub: None, ..attr },
        filter: Box::new(f),
    });
    let any = prop_oneof![4 => leaf, 1 => value_path]
        .boxed()
        .prop_recursive(3, 24, 4, move |i| combine(i).boxed());

    let reg = SchemaRegistry::new();
    let users = reg.resource("User").unwrap();
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let filters: Vec<Filter> = (0..10_000)
        .map(|_| any.new_tree(&mut runner).unwrap().current())
        .collect();
    on_every_backend!(|store, backend| {
        let mut all = Vec::new();
        for (i, p) in ["ann", "ANN.b", "émile", "İlker", "straße", "100%", "x_1", "bob"]
            .iter()
            .enumerate()
        {
            let mut d = user(p);
            d.insert("title".into(), json!(["Lead", "", "ß", "É"][i % 4]));
            d.insert("active".into(), json!(i % 2 == 0));
            if i % 3 != 2 {
                d.insert(
                    "emails".into(),
                    json!([{"value": format!("{p}@example.org"), "type": "work", "primary": i % 2 == 0}]),
                );
                d.insert(ENTERPRISE.into(), json!({"department": "Sales", "employeeNumber": i.to_string(), "manager": {"value": "m1"}}));
            }
            if i % 2 == 1 {
                d.insert(
                    "name".into(),
                    json!({"givenName": p.to_uppercase(), "familyName": "Zola"}),
                );
                d.insert(
                    "phoneNumbers".into(),
                    json!([{"value": format!("+1 555 {i}"), "type": "work"}]),
                );
                d.insert(
                    "addresses".into(),
                    json!([{"postalCode": format!("{i}000"), "primary": true}]),
                );
            }
            let d = users
                .validate(&Value::Object(d), None, Default::default())
                .unwrap();
            let r = store.create_resource(ResourceKind::User, d).await.unwrap();
            let mut full = r.data.clone();
            full.insert("id".into(), json!(r.id));
            full.insert("meta".into(), r.meta("http://x").to_value());
            all.push((r.id.clone(), Value::Object(full)));
        }
        let (mut answered, mut refused) = (0usize, 0usize);
        for f in &filters {
            if f.check(&users).is_err() {
                continue;
            }
            let text = f.to_string();
            let q = ListQuery {
                filter: Some(f),
                limit: 100,
                schema: Some(&users),
                ..Default::default()
            };
            match store.list_resources(ResourceKind::User, &q).await {
                Ok(page) => {
                    let mut want: Vec<&str> = all
                        .iter()
                        .filter(|(_, v)| filter::matches(f, v, Some(&users)))
                        .map(|(id, _)| id.as_str())
                        .collect();
                    want.sort();
                    let mut got: Vec<&str> = page.resources.iter().map(|r| r.id.as_str()).collect();
                    got.sort();
                    assert_eq!(got, want, "{backend}: {text}");
                    answered += 1;
                }
                // What the store cannot search yet (`meta.version`, binaries, order on a complex attribute).
                Err(StoreError::Scim(_)) => refused += 1,
                Err(e) => panic!("{backend}: {text:?} reached the database as an error: {e}"),
            }
        }
        eprintln!(
            "{backend}: {answered} generated filters answered like the evaluator, {refused} refused by the store"
        );
        assert!(
            answered > 500,
            "{backend}: only {answered} filters passed the check ({refused} refused)"
        );
    });
}

/// A member's `display`: one the client gave is returned as given (members' sub-attributes are immutable, and
/// third-party testers check it) until the member is renamed; a member added without one, or renamed since, is
/// shown with its current displayName, or a user's userName, derived when the group is read, so a rename shows at
/// once and no stale copy stays. `members.display` filters compare the display returned, without case. A user's
/// `groups.display` follows a group's rename.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_display_is_kept_as_given_or_derived_at_read_time() {
    use roster_scim::{SchemaRegistry, filter};
    use roster_store::ListQuery;
    on_every_backend!(|store, backend| {
        let ada = store
            .create_resource(ResourceKind::User, user("ada"))
            .await
            .unwrap();
        let mut bare = Map::new();
        bare.insert("userName".into(), json!("Bob.Jones"));
        let bob = store.create_resource(ResourceKind::User, bare).await.unwrap();
        let inner = store
            .create_resource(ResourceKind::Group, group("Inner", &[]))
            .await
            .unwrap();
        let mut g = group("Team", &[]);
        g.insert(
            "members".into(),
            json!([{"value": ada.id}, {"value": bob.id}, {"value": inner.id, "display": "Inner (as sent)"}]),
        );
        let team = store.create_resource(ResourceKind::Group, g).await.unwrap();
        let displays = |r: &roster_store::StoredResource| -> Vec<(String, String)> {
            let mut d: Vec<(String, String)> = r.data["members"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| {
                    (
                        m["value"].as_str().unwrap().to_owned(),
                        m["display"].as_str().unwrap().to_owned(),
                    )
                })
                .collect();
            d.sort();
            d
        };
        let mut want = vec![
            (ada.id.clone(), "ada".to_owned()),
            (bob.id.clone(), "Bob.Jones".to_owned()),
            (inner.id.clone(), "Inner (as sent)".to_owned()),
        ];
        want.sort();
        assert_eq!(displays(&team), want, "{backend}: the create's answer");
        // A change that leaves the member's name alone keeps the display the client gave.
        let mut same_name = group("Inner", &[]);
        same_name.insert("externalId".into(), json!("inner-ext"));
        store
            .replace_resource(ResourceKind::Group, &inner.id, same_name, None)
            .await
            .unwrap();
        let read = store
            .get_resource(ResourceKind::Group, &team.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(displays(&read), want, "{backend}: no rename, no change");
        // Renames show at once, in the group read by id and in a listing: a derived display follows, and the one
        // the client gave is dropped as stale.
        let mut renamed = user("ada");
        renamed.insert("displayName".into(), json!("Ada Lovelace"));
        store
            .replace_resource(ResourceKind::User, &ada.id, renamed, None)
            .await
            .unwrap();
        store
            .replace_resource(ResourceKind::Group, &inner.id, group("Inner Circle", &[]), None)
            .await
            .unwrap();
        let read = store
            .get_resource(ResourceKind::Group, &team.id)
            .await
            .unwrap()
            .unwrap();
        let d = displays(&read);
        assert!(
            d.contains(&(ada.id.clone(), "Ada Lovelace".to_owned())),
            "{backend}: {d:?}"
        );
        assert!(
            d.contains(&(inner.id.clone(), "Inner Circle".to_owned())),
            "{backend}: {d:?}"
        );
        assert!(
            d.contains(&(bob.id.clone(), "Bob.Jones".to_owned())),
            "{backend}: {d:?}"
        );
        let listed = roster_testkit::all(store, ResourceKind::Group).await;
        let t = listed.iter().find(|r| r.id == team.id).unwrap();
        assert_eq!(displays(t), d, "{backend}: a listing shows the same");
        // Filters on members.display compare the display returned, without case.
        let reg = SchemaRegistry::new();
        let groups = reg.resource("Group").unwrap();
        for (text, hit) in [
            (r#"members.display eq "ada lovelace""#, true),
            (r#"members.display eq "ada""#, false),
            (r#"members.display sw "BOB""#, true),
            (r#"members.display eq "INNER (AS SENT)""#, false),
            (r#"members.display co "circle""#, true),
            (r#"members.display pr"#, true),
        ] {
            let f = filter::parse(text).unwrap();
            f.check(&groups).unwrap();
            let q = ListQuery {
                filter: Some(&f),
                limit: 10,
                schema: Some(&groups),
                ..Default::default()
            };
            let page = store.list_resources(ResourceKind::Group, &q).await.unwrap();
            let found = page.resources.iter().any(|r| r.id == team.id);
            assert_eq!(found, hit, "{backend}: {text}");
            // The evaluator, on the group as read, agrees.
            let mut v = read.data.clone();
            v.insert("id".into(), json!(read.id));
            assert_eq!(
                filter::matches(&f, &Value::Object(v), Some(&groups)),
                hit,
                "{backend}: evaluator, {text}"
            );
        }
        // A user's groups[].display follows the group's rename.
        let bob_read = store
            .get_resource(ResourceKind::User, &bob.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(bob_read.data["groups"][0]["display"], "Team", "{backend}");
    });
}

/// One identity, one userName, whatever the Unicode spelling (RFC 8265 UsernameCaseMapped): a precomposed and a
/// decomposed `émile`, `ガ` and `カ` + U+3099, fullwidth and ordinary letters are refused as duplicates (409
/// uniqueness) like case differences are, and found by each other's spelling; the stored value stays as sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_names_are_one_identity_whatever_the_unicode_spelling() {
    use roster_scim::{SchemaRegistry, filter};
    use roster_store::ListQuery;
    let reg = SchemaRegistry::new();
    let users = reg.resource("User").unwrap();
    on_every_backend!(|store, backend| {
        let composed = "\u{e9}mile@example.com";
        let decomposed = "e\u{301}mile@example.com";
        let first = store
            .create_resource(ResourceKind::User, user(composed))
            .await
            .unwrap();
        assert_eq!(first.data["userName"], composed, "{backend}: stored as sent");
        for look_alike in [
            decomposed,
            "\u{c9}MILE@example.com",
            "\u{e9}mile@\u{ff45}xample.com",
        ] {
            let r = store.create_resource(ResourceKind::User, user(look_alike)).await;
            assert_eq!(scim_kind(r), ErrorKind::Uniqueness, "{backend}: {look_alike:?}");
        }
        let kana = store
            .create_resource(ResourceKind::User, user("\u{30ac}\u{30c3}\u{30c4}"))
            .await
            .unwrap();
        let r = store
            .create_resource(ResourceKind::User, user("\u{30ab}\u{3099}\u{30c3}\u{30c4}"))
            .await;
        assert_eq!(scim_kind(r), ErrorKind::Uniqueness, "{backend}: dakuten");
        let r = store
            .create_resource(ResourceKind::User, user("\u{ff76}\u{ff9e}\u{ff6f}\u{ff82}"))
            .await;
        assert_eq!(
            scim_kind(r),
            ErrorKind::Uniqueness,
            "{backend}: halfwidth katakana"
        );
        // A rename into another user's identity is refused the same way.
        let other = store
            .create_resource(ResourceKind::User, user("other"))
            .await
            .unwrap();
        let r = store
            .replace_resource(ResourceKind::User, &other.id, user(decomposed), None)
            .await;
        assert_eq!(scim_kind(r), ErrorKind::Uniqueness, "{backend}: rename");
        // Filters find a user by any spelling, as the evaluator does.
        for (text, want) in [
            (format!("userName eq \"{decomposed}\""), Some(&first.id)),
            (
                "userName eq \"\u{c9}MILE@EXAMPLE.COM\"".to_owned(),
                Some(&first.id),
            ),
            ("userName sw \"e\u{301}mi\"".to_owned(), Some(&first.id)),
            (
                "userName eq \"\u{30ab}\u{3099}\u{30c3}\u{30c4}\"".to_owned(),
                Some(&kana.id),
            ),
            ("userName eq \"emile@example.com\"".to_owned(), None),
        ] {
            let f = filter::parse(&text).unwrap();
            let q = ListQuery {
                filter: Some(&f),
                limit: 10,
                schema: Some(&users),
                ..Default::default()
            };
            let page = store.list_resources(ResourceKind::User, &q).await.unwrap();
            let got: Vec<&String> = page.resources.iter().map(|r| &r.id).collect();
            assert_eq!(got, want.into_iter().collect::<Vec<_>>(), "{backend}: {text}");
            let mut v = first.data.clone();
            v.insert("id".into(), json!(first.id));
            let evaluated = filter::matches(&f, &Value::Object(v), Some(&users));
            assert_eq!(evaluated, want == Some(&first.id), "{backend}: evaluator, {text}");
        }
        assert_eq!(
            store
                .ids_by_name(ResourceKind::User, "E\u{301}MILE@example.com")
                .await
                .unwrap(),
            std::slice::from_ref(&first.id),
            "{backend}"
        );
    });
}

/// A database written before userNames were compared as identities is re-keyed once when it is opened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_user_names_are_rekeyed_once_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("old.db").display());
    let decomposed = "e\u{301}mile@example.com";
    {
        let store = Store::connect(&url).await.unwrap();
        store
            .create_resource(ResourceKind::User, user(decomposed))
            .await
            .unwrap();
    }
    // What an older roster wrote: the userName lower-cased, not composed; no mark.
    {
        use sqlx::Connection as _;
        let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query("UPDATE resources SET user_name_lc = $1")
            .bind(decomposed)
            .execute(&mut c)
            .await
            .unwrap();
        sqlx::query("DELETE FROM store_marks")
            .execute(&mut c)
            .await
            .unwrap();
    }
    let store = Store::connect(&url).await.unwrap();
    let r = store
        .create_resource(ResourceKind::User, user("\u{e9}mile@example.com"))
        .await;
    assert_eq!(
        scim_kind(r),
        ErrorKind::Uniqueness,
        "the stored user now has its identity key"
    );
}

/// Reads that skip the related rows: the resource itself is the same (attributes, version), without a Group's
/// `members` or a User's derived `groups`; reads that ask for them are unchanged.
#[tokio::test]
async fn reads_may_leave_out_members_and_derived_groups() {
    use roster_store::{ListQuery, Related};
    on_every_backend!(|store, backend| {
        let ada = store
            .create_resource(ResourceKind::User, user("ada"))
            .await
            .unwrap();
        let team = store
            .create_resource(ResourceKind::Group, group("Team", &[&ada.id]))
            .await
            .unwrap();
        for (kind, id, attr) in [
            (ResourceKind::Group, &team.id, "members"),
            (ResourceKind::User, &ada.id, "groups"),
        ] {
            let full = store.get_resource(kind, id).await.unwrap().unwrap();
            let bare = store
                .get_resource_with(kind, id, Related::Skip)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                full.data[attr].as_array().map(Vec::len),
                Some(1),
                "{backend}: {full:?}"
            );
            assert_eq!(bare.data.get(attr), None, "{backend}: {bare:?}");
            let mut without = full.data.clone();
            without.shift_remove(attr);
            assert_eq!(
                (bare.data, bare.version, bare.created),
                (without, full.version, full.created),
                "{backend}"
            );
            let loaded = store
                .load_resources_with(kind, std::slice::from_ref(id), Related::Skip)
                .await
                .unwrap();
            assert_eq!(loaded.len(), 1, "{backend}");
            assert_eq!(loaded[0].data.get(attr), None, "{backend}");
            for (related, expected) in [(Related::Skip, None), (Related::Read, Some(1))] {
                let page = store
                    .list_resources(
                        kind,
                        &ListQuery {
                            limit: 10,
                            related,
                            ..ListQuery::default()
                        },
                    )
                    .await
                    .unwrap();
                assert_eq!(page.total, 1, "{backend}");
                assert_eq!(
                    page.resources[0]
                        .data
                        .get(attr)
                        .and_then(Value::as_array)
                        .map(Vec::len),
                    expected,
                    "{backend}: {related:?}"
                );
            }
        }
        assert!(
            store
                .get_resource_with(ResourceKind::Group, "nope", Related::Skip)
                .await
                .unwrap()
                .is_none(),
            "{backend}"
        );
    });
}

/// One equality on an indexed column (an identity provider's lookup; answered on SQLite's calling thread): the
/// same totals, pages and order as any listing, on both databases.
#[tokio::test]
async fn single_key_lookups_page_and_count_like_any_listing() {
    use roster_scim::{SchemaRegistry, filter};
    use roster_store::ListQuery;
    on_every_backend!(|store, backend| {
        let mut same = Vec::new();
        for _ in 0..5 {
            same.push(
                store
                    .create_resource(ResourceKind::Group, group("Same", &[]))
                    .await
                    .unwrap()
                    .id,
            );
        }
        let other = store
            .create_resource(ResourceKind::Group, group("Other", &[]))
            .await
            .unwrap()
            .id;
        let ada = store
            .create_resource(ResourceKind::User, user("Ada"))
            .await
            .unwrap();
        let reg = SchemaRegistry::new();
        let list = |kind: ResourceKind, text: &str, offset: u64, limit: u64| {
            let store = store.clone();
            let rs = reg.resource(kind.as_str()).unwrap();
            let f = filter::parse(text).unwrap();
            async move {
                let page = store
                    .list_resources(
                        kind,
                        &ListQuery {
                            filter: Some(&f),
                            offset,
                            limit,
                            schema: Some(&rs),
                            ..ListQuery::default()
                        },
                    )
                    .await
                    .unwrap();
                (
                    page.total,
                    page.resources.into_iter().map(|r| r.id).collect::<Vec<_>>(),
                )
            }
        };
        assert_eq!(
            list(ResourceKind::Group, r#"displayName eq "SAME""#, 1, 2).await,
            (5, same[1..3].to_vec()),
            "{backend}: case-insensitive, in creation order, offset and limit"
        );
        assert_eq!(
            list(ResourceKind::Group, r#"displayName eq "same""#, 5, 2).await,
            (5, vec![]),
            "{backend}: past the end"
        );
        assert_eq!(
            list(ResourceKind::Group, r#"displayName eq "same""#, 0, 0).await,
            (5, vec![]),
            "{backend}: the count alone"
        );
        assert_eq!(
            list(ResourceKind::User, r#"userName eq "ADA""#, 0, 10).await,
            (1, vec![ada.id.clone()]),
            "{backend}"
        );
        assert_eq!(
            list(ResourceKind::User, &format!(r#"id eq "{}""#, ada.id), 0, 10).await,
            (1, vec![ada.id.clone()]),
            "{backend}"
        );
        assert_eq!(
            list(
                ResourceKind::User,
                &format!(r#"id eq "{}""#, ada.id.to_uppercase()),
                0,
                10
            )
            .await,
            (0, vec![]),
            "{backend}: ids compare exactly"
        );
        assert_eq!(
            list(ResourceKind::Group, r#"displayName eq "Ada""#, 0, 10).await,
            (0, vec![]),
            "{backend}: a user is not a group"
        );
        // A plain page of every group: the same count, order and paging.
        let all: Vec<String> = same.iter().cloned().chain([other.clone()]).collect();
        for (offset, limit) in [(1, 2), (4, 10), (6, 10)] {
            let page = store
                .list_resources(
                    ResourceKind::Group,
                    &ListQuery {
                        offset,
                        limit,
                        ..ListQuery::default()
                    },
                )
                .await
                .unwrap();
            let ids: Vec<String> = page.resources.into_iter().map(|r| r.id).collect();
            let from = usize::try_from(offset).unwrap().min(all.len());
            let to = (from + usize::try_from(limit).unwrap()).min(all.len());
            assert_eq!(
                (page.total, ids),
                (6, all[from..to].to_vec()),
                "{backend}: offset {offset}"
            );
        }
    });
}

/// A group's other attributes written without its member rows: the members stay, the version moves by one, a
/// stale version is refused.
#[tokio::test]
async fn replacing_a_groups_attributes_keeps_its_members() {
    on_every_backend!(|store, backend| {
        let ada = store
            .create_resource(ResourceKind::User, user("ada"))
            .await
            .unwrap();
        let team = store
            .create_resource(ResourceKind::Group, group("Team", &[&ada.id]))
            .await
            .unwrap();
        let mut data = group("Crew", &[]);
        data.shift_remove("members");
        let version = store
            .replace_attributes(ResourceKind::Group, &team.id, data.clone(), Some(team.version))
            .await
            .unwrap();
        assert_eq!(version, team.version + 1, "{backend}");
        let now = store
            .get_resource(ResourceKind::Group, &team.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (now.data["displayName"].as_str(), now.version),
            (Some("Crew"), version),
            "{backend}"
        );
        assert_eq!(
            now.data["members"], team.data["members"],
            "{backend}: members kept"
        );
        assert_eq!(
            scim_kind(
                store
                    .replace_attributes(ResourceKind::Group, &team.id, data, Some(team.version))
                    .await
            ),
            ErrorKind::PreconditionFailed,
            "{backend}: a stale version"
        );
    });
}

/// The totals every way of reading them gives for a type: an unfiltered full page (the per-type count), a cursor
/// page, [`Store::count_resources`], and a filter that matches every user (a count over the rows).
async fn user_totals(store: &Store) -> [u64; 4] {
    use roster_store::{ListQuery, Position};
    let page =
        |q: ListQuery<'static>| async move { store.list_resources(ResourceKind::User, &q).await.unwrap() };
    let full = page(ListQuery {
        limit: 1,
        ..Default::default()
    })
    .await;
    let start = Position {
        created: i64::MIN,
        id: String::new(),
    };
    let cursor = store
        .list_resources(
            ResourceKind::User,
            &ListQuery {
                limit: 1,
                after: Some(&start),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let every = roster_scim::filter::parse("userName pr").unwrap();
    let reg = roster_scim::SchemaRegistry::new();
    let users = reg.resource("User").unwrap();
    let counted = store
        .list_resources(
            ResourceKind::User,
            &ListQuery {
                filter: Some(&every),
                limit: 1,
                schema: Some(&users),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    [
        full.total,
        cursor.total,
        store.count_resources(ResourceKind::User).await.unwrap(),
        counted.total,
    ]
}

/// A type's total (kept by the database's triggers, never a count over the rows) follows every write: single
/// creates at once, a run of creates with failed items, an import, deletes, and a refused create that leaves
/// nothing; groups count apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn type_totals_follow_every_write() {
    on_every_backend!(|store, backend| {
        assert_eq!(user_totals(store).await, [0; 4], "{backend}: empty");
        let mut singles = tokio::task::JoinSet::new();
        for i in 0..12 {
            let store = store.clone();
            singles.spawn(async move {
                store
                    .create_resource(ResourceKind::User, user(&format!("single{i}")))
                    .await
            });
        }
        let ids: Vec<String> = singles
            .join_all()
            .await
            .into_iter()
            .map(|r| r.unwrap().id)
            .collect();
        assert_eq!(
            user_totals(store).await,
            [12; 4],
            "{backend}: after single creates"
        );
        let run = vec![user("run0"), user("single3"), user("run1"), user("run0")];
        let results = store
            .create_resources(ResourceKind::User, run, None)
            .await
            .unwrap();
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 2, "{backend}");
        assert_eq!(
            user_totals(store).await,
            [14; 4],
            "{backend}: failed items count nothing"
        );
        let refused = store.create_resource(ResourceKind::User, user("SINGLE5")).await;
        assert_eq!(scim_kind(refused), ErrorKind::Uniqueness, "{backend}");
        assert_eq!(
            user_totals(store).await,
            [14; 4],
            "{backend}: a refused create counts nothing"
        );
        let csv = "userName,externalId,groups\nimp0,I0,Imported\nimp1,I1,Imported\nimp2,I2,Imported\n";
        let report = roster_store::import::import(store, "people.csv", csv)
            .await
            .unwrap();
        assert!(report.errors.is_empty(), "{backend}: {:?}", report.errors);
        assert_eq!(user_totals(store).await, [17; 4], "{backend}: after an import");
        for id in &ids[..5] {
            store.delete_resource(ResourceKind::User, id, None).await.unwrap();
        }
        assert_eq!(user_totals(store).await, [12; 4], "{backend}: after deletes");
        assert_eq!(
            store.count_resources(ResourceKind::Group).await.unwrap(),
            1,
            "{backend}: groups apart"
        );
    });
}

/// On PostgreSQL a create does not wait for another transaction that has created a user and not committed
/// (the per-type count has several rows), and neither sees the other's uncommitted row in its total.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_creates_do_not_wait_on_one_another_for_the_count() {
    use sqlx::Connection;
    let Some((url, schema)) = roster_testkit::pg_schema_url().await else {
        return;
    };
    let store = Store::connect(&url).await.unwrap();
    let mut other = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut other).await.unwrap();
    sqlx::query(
        "INSERT INTO resources (id, resource_type, user_name_lc, data, search, version, created, last_modified) \
         VALUES ('open-one', 'User', 'open.one', '{}', '{}', 1, 0, 0)",
    )
    .execute(&mut other)
    .await
    .unwrap();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        store.create_resource(ResourceKind::User, user("committed.one")),
    )
    .await
    .expect("a create waited on another transaction's open create")
    .unwrap();
    assert_eq!(
        user_totals(&store).await,
        [1; 4],
        "the open create is not counted"
    );
    sqlx::query("COMMIT").execute(&mut other).await.unwrap();
    assert_eq!(user_totals(&store).await, [2; 4], "both, once committed");
    store
        .delete_resource(ResourceKind::User, "open-one", None)
        .await
        .unwrap();
    assert_eq!(
        user_totals(&store).await,
        [1; 4],
        "a delete of the row counted on another shard"
    );
    drop(other);
    store.close().await;
    roster_testkit::drop_schema(&schema).await;
}
