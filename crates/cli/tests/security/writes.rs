//! Writes: no 412 without `If-Match`, limits on stored values.

use super::*;

/// Concurrent PUTs and PATCHes without `If-Match` all apply (last writer wins; no 412 that nobody asked for);
/// a PUT whose `If-Match` names an old version still gets 412.
#[test]
fn unconditional_writes_never_answer_412() {
    on_every_database(&["--no-engine"], |_, write, served| {
        let addr = served.addr.clone();
        let user =
            r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ada","title":"t0"}"#;
        let id = create_user(&addr, write, user);
        let uri = format!("/scim/v2/Users/{id}");
        for round in 0..5 {
            let handles: Vec<_> = (0..6)
                .map(|i| {
                    let (addr, write, uri) = (addr.clone(), write.to_owned(), uri.clone());
                    std::thread::spawn(move || {
                        let (method, body) = if i % 2 == 0 {
                            (
                                "PUT",
                                format!(
                                    r#"{{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ada","title":"r{round}w{i}"}}"#
                                ),
                            )
                        } else {
                            (
                                "PATCH",
                                format!(
                                    r#"{{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{{"op":"replace","path":"nickName","value":"r{round}w{i}"}}]}}"#
                                ),
                            )
                        };
                        http(&addr, method, &uri, Some(&write), Some(&body)).unwrap()
                    })
                })
                .collect();
            for h in handles {
                let (status, body) = h.join().unwrap();
                assert_eq!(status, 200, "round {round}: {body}");
            }
        }
        let (_, body) = http(&addr, "GET", &uri, Some(write), None).unwrap();
        let v: Value = serde_json::from_str(&body).unwrap();
        assert!(v["title"].as_str().unwrap().starts_with("r4w"), "{body}");
        let version = v["meta"]["version"].as_str().unwrap().to_owned();

        // A client that names a version it read gets 412 once the resource moved on.
        let put =
            r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ada","title":"x"}"#;
        let (status, _) = http(&addr, "PUT", &uri, Some(write), Some(put)).unwrap();
        assert_eq!(status, 200);
        let stale = raw(
            &addr,
            format!(
                "PUT {uri} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {write}\r\nIf-Match: {version}\r\nContent-Type: application/scim+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{put}",
                put.len()
            )
            .as_bytes(),
        );
        let (status, _, body) = parts(&stale);
        assert_eq!(status, 412, "{body}");
    });
}

/// What one user may hold is limited (string length, values per attribute, operations per PATCH), refused with
/// `invalidValue` naming the attribute and the limit, and nothing of a refused request is stored; a group's
/// members are not held to the per-attribute limit.
#[test]
fn oversized_values_are_refused_with_the_limit() {
    on_every_database(&["--no-engine"], |_, write, served| {
        let addr = served.addr.clone();
        let core = "urn:ietf:params:scim:schemas:core:2.0:User";
        let cases = [
            (
                serde_json::json!({"schemas": [core], "userName": "u".repeat(1_000_000)}),
                "'userName' is 1000000 characters long; the limit is 2048",
            ),
            (
                serde_json::json!({"schemas": [core], "userName": "many",
                    "emails": (0..20_000).map(|i| serde_json::json!({"value": format!("e{i}@x.io")})).collect::<Vec<_>>()}),
                "'emails' has 20000 values; the limit is 100",
            ),
            (
                serde_json::json!({"schemas": [core], "userName": "t", "name": {"givenName": "g".repeat(3000)}}),
                "'name.givenName' is 3000 characters long; the limit is 2048",
            ),
        ];
        for (body, want) in &cases {
            let r = http(
                &addr,
                "POST",
                "/scim/v2/Users",
                Some(write),
                Some(&body.to_string()),
            )
            .unwrap();
            let detail = scim_error(want, r, 400, "invalidValue");
            assert!(detail.contains(want), "{detail}");
        }
        let (_, body) = http(&addr, "GET", "/scim/v2/Users?count=0", Some(write), None).unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap()["totalResults"],
            0,
            "nothing stored"
        );

        let user = serde_json::json!({"schemas": [core], "userName": "ada"}).to_string();
        let uri = format!("/scim/v2/Users/{}", create_user(&addr, write, &user));
        let patch = |ops: Value| {
            serde_json::json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops})
                .to_string()
        };
        let add_emails = patch(serde_json::json!([{"op": "add", "path": "emails",
            "value": (0..5_000).map(|i| serde_json::json!({"value": format!("e{i}@x.io")})).collect::<Vec<_>>()}]));
        let r = http(&addr, "PATCH", &uri, Some(write), Some(&add_emails)).unwrap();
        let detail = scim_error("PATCH adding 5,000 emails", r, 400, "invalidValue");
        assert!(
            detail.contains("'emails' has 5000 values; the limit is 100"),
            "{detail}"
        );
        let many_ops = patch(Value::Array(
            (0..1_001)
                .map(|i| serde_json::json!({"op": "replace", "path": "title", "value": format!("t{i}")}))
                .collect(),
        ));
        let r = http(&addr, "PATCH", &uri, Some(write), Some(&many_ops)).unwrap();
        let detail = scim_error("PATCH of 1,001 operations", r, 400, "invalidValue");
        assert!(detail.contains("1001 operations; the limit is 1000"), "{detail}");

        // A group of 2,000 members in one POST is fine.
        let mut ids = Vec::new();
        for chunk in 0..2 {
            let ops: Vec<Value> = (0..1_000)
                .map(|i| {
                    serde_json::json!({"method": "POST", "path": "/Users", "bulkId": format!("b{chunk}-{i}"),
                        "data": {"schemas": [core], "userName": format!("m{chunk}-{i}")}})
                })
                .collect();
            let bulk = serde_json::json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": ops});
            let (status, body) = http(
                &addr,
                "POST",
                "/scim/v2/Bulk",
                Some(write),
                Some(&bulk.to_string()),
            )
            .unwrap();
            assert_eq!(status, 200, "{body}");
            for op in serde_json::from_str::<Value>(&body).unwrap()["Operations"]
                .as_array()
                .unwrap()
            {
                ids.push(
                    op["location"]
                        .as_str()
                        .unwrap()
                        .rsplit('/')
                        .next()
                        .unwrap()
                        .to_owned(),
                );
            }
        }
        let group = serde_json::json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "All",
            "members": ids.iter().map(|id| serde_json::json!({"value": id})).collect::<Vec<_>>()});
        let (status, body) = http(
            &addr,
            "POST",
            "/scim/v2/Groups",
            Some(write),
            Some(&group.to_string()),
        )
        .unwrap();
        assert_eq!(status, 201, "{}", &body[..body.len().min(300)]);
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap()["members"]
                .as_array()
                .unwrap()
                .len(),
            2_000
        );
    });
}
