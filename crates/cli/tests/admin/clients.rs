//! Inbound quarantine across processes: a misbehaving identity provider is refused by every `roster serve` on
//! the database alike (and by one started later), the admin sees why and until when, and can end it; a
//! well-behaved one beside it is never touched.

use super::*;
use serde_json::Value;

fn user(name: &str) -> String {
    format!(r#"{{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"{name}"}}"#)
}

#[test]
fn a_failing_client_is_refused_by_every_process_shown_and_released_by_hand() {
    on_every_database(|db| {
        let bad = db
            .ok(&["token", "create", "--name", "bad-idp"])
            .0
            .trim()
            .to_owned();
        let good = db
            .ok(&["token", "create", "--name", "good-idp"])
            .0
            .trim()
            .to_owned();
        let key = db.key.as_ref().map(|k| k.to_str().unwrap().to_owned());
        let mut flags = vec!["--no-engine", "--client-min-requests", "10"];
        if let Some(k) = &key {
            flags.extend(["--secret-key-file", k.as_str()]);
        }
        let a = common::serve(&db.url, &flags);
        let b = common::serve(&db.url, &flags);
        let status = |addr: &str, token: &str, method: &str, path: &str, body: Option<&str>| {
            common::http(addr, method, path, Some(token), body).unwrap()
        };
        // The good client: creates, reads, and lookups that find nothing, through both processes.
        for i in 0..20 {
            let addr = if i % 2 == 0 { &a.addr } else { &b.addr };
            let (s, body) = status(
                addr,
                &good,
                "POST",
                "/scim/v2/Users",
                Some(&user(&format!("good{i}"))),
            );
            assert_eq!(s, 201, "{}: {body}", db.backend);
            let (s, _) = status(addr, &good, "GET", "/scim/v2/Users/no-such-id", None);
            assert_eq!(s, 404, "{}", db.backend);
        }
        // The bad client sends users without a userName, half to each process.
        let mut refused_at = None;
        for i in 0..30 {
            let addr = if i % 2 == 0 { &a.addr } else { &b.addr };
            let (s, _) = status(
                addr,
                &bad,
                "POST",
                "/scim/v2/Users",
                Some(r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"]}"#),
            );
            assert!(s == 400 || s == 429, "{}: {s}", db.backend);
            if s == 429 && refused_at.is_none() {
                refused_at = Some(i);
            }
        }
        assert!(
            refused_at.is_some_and(|i| i <= 24),
            "{}: refused at {refused_at:?}",
            db.backend
        );
        // Now both processes refuse it, even a good request, and say why and until when; the good client is served.
        for served in [&a, &b] {
            let (s, body) = status(&served.addr, &bad, "POST", "/scim/v2/Users", Some(&user("fine")));
            assert_eq!(s, 429, "{}: {body}", db.backend);
            let detail = serde_json::from_str::<Value>(&body).unwrap()["detail"]
                .as_str()
                .unwrap()
                .to_owned();
            assert!(
                detail.contains("R-CLIENT-SLOWED")
                    && detail.contains("requests failed within 60 s")
                    && detail.contains("until 20"),
                "{}: {detail}",
                db.backend
            );
            let (s, _) = status(&served.addr, &good, "GET", "/scim/v2/Users?count=1", None);
            assert_eq!(s, 200, "{}", db.backend);
        }
        // A process started now knows it too.
        let c = common::serve(&db.url, &flags);
        assert_eq!(
            status(&c.addr, &bad, "GET", "/scim/v2/Users", None).0,
            429,
            "{}",
            db.backend
        );
        // The admin sees it.
        let (list, _) = db.ok(&["client", "list"]);
        let line = list.lines().find(|l| l.starts_with("bad-idp")).unwrap();
        assert!(
            line.contains("refused") && line.contains("requests failed"),
            "{}: {list}",
            db.backend
        );
        let line = list.lines().find(|l| l.starts_with("good-idp")).unwrap();
        assert!(line.contains("normal"), "{}: {list}", db.backend);
        let admin = db
            .ok(&["token", "create", "--name", "ops", "--scope", "admin"])
            .0
            .trim()
            .to_owned();
        let (s, body) = status(&a.addr, &admin, "GET", "/api/v1/clients", None);
        assert_eq!(s, 200, "{}: {body}", db.backend);
        let listed: Value = serde_json::from_str(&body).unwrap();
        let states: Vec<(&str, &str)> = listed
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["name"].as_str().unwrap(), c["state"].as_str().unwrap()))
            .collect();
        assert_eq!(
            states,
            [("bad-idp", "refused"), ("good-idp", "normal"), ("ops", "normal")],
            "{}",
            db.backend
        );
        assert_eq!(
            status(&a.addr, &good, "GET", "/api/v1/clients", None).0,
            403,
            "{}",
            db.backend
        );
        assert_eq!(
            status(&a.addr, &admin, "POST", "/api/v1/clients/nobody/release", None).0,
            404,
            "{}",
            db.backend
        );
        let (json, _) = db.ok(&["client", "show", "bad-idp", "--format", "json"]);
        let shown: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(shown["state"], "refused", "{}", db.backend);
        assert_eq!(shown["tripsInARow"], 1, "{}", db.backend);
        assert!(
            shown["until"].as_str().unwrap().ends_with('Z'),
            "{}: {shown}",
            db.backend
        );
        assert!(
            shown["lastFailure"].as_str().unwrap().starts_with("400: "),
            "{}: {shown}",
            db.backend
        );
        // ... and ends it: every process serves the client again within a second.
        let (_, said) = db.ok(&["client", "release", "bad-idp"]);
        assert!(
            said.contains("released (it was refused)"),
            "{}: {said}",
            db.backend
        );
        for served in [&a, &b, &c] {
            common::wait_for("the released client to be served", 5, || {
                status(&served.addr, &bad, "GET", "/scim/v2/Users?count=1", None).0 == 200
            });
        }
        let (json, _) = db.ok(&["client", "show", "bad-idp", "--format", "json"]);
        assert_eq!(
            serde_json::from_str::<Value>(&json).unwrap()["state"],
            "normal",
            "{}",
            db.backend
        );
        let (audit, _) = db.ok(&["audit", "--format", "json"]);
        let actions: Vec<(String, String)> = audit
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|e| e["target"] == "bad-idp" && e["action"].as_str().unwrap().starts_with("client."))
            .map(|e| {
                (
                    e["action"].as_str().unwrap().to_owned(),
                    e["who"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(actions.len(), 2, "{}: {actions:?}", db.backend);
        assert_eq!(
            actions[0],
            ("client.quarantine".to_owned(), "roster".to_owned()),
            "{}",
            db.backend
        );
        assert!(
            actions[1].0 == "client.release" && actions[1].1.starts_with("os:"),
            "{}: {actions:?}",
            db.backend
        );
        let (out, err) = texts(&db.roster(&["client", "release", "nobody"]));
        assert!(
            err.contains("no requests") || out.contains("no requests"),
            "{}: {err}",
            db.backend
        );
    });
}
