//! Hostile filters: long `and`/`or` chains through GET and `.search`, and chains at the limit.

use super::*;

/// Long `or`/`and` chains (which used to overflow the stack of the parser, the evaluator and the SQL translation,
/// or reach the databases' own limits as a 500) answer `invalidFilter` naming the count and the limit, through
/// GET and `.search`, from a read-only token; chains at the limit are answered on both databases.
#[test]
fn long_filter_chains_are_refused_and_the_server_lives() {
    on_every_database(&[], |db, write, served| {
        let read = token(db, "read");
        let addr = served.addr.clone();
        for name in ["ada", "grace"] {
            let user = format!(
                r#"{{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"{name}","title":"t"}}"#
            );
            let (status, body) = http(&addr, "POST", "/scim/v2/Users", Some(write), Some(&user)).unwrap();
            assert_eq!(status, 201, "{body}");
        }
        let chain = |n: usize, term: &str, op: &str| vec![term; n].join(op);
        let hostile = [
            chain(3_000, "title pr", " or "),
            chain(5_400, "title pr", " or "),
            chain(3_000, "title pr", " and "),
            chain(1_000, r#"userName eq "x""#, " or "),
            chain(1_500, r#"emails.value eq "x""#, " or "),
            chain(2_000, r#"title co "x""#, " or "),
            format!("emails[{}]", chain(2_000, r#"value eq "x""#, " or ")),
        ];
        for f in &hostile {
            let what = format!("GET with {} bytes of filter", f.len());
            let uri = format!("/scim/v2/Users?filter={}", enc(f));
            let detail = scim_error(
                &what,
                http(&addr, "GET", &uri, Some(&read), None).unwrap(),
                400,
                "invalidFilter",
            );
            assert!(detail.contains("the limit is 200"), "{what}: {detail}");
            assert_alive(served, &what);

            let body = serde_json::json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                "filter": f,
            })
            .to_string();
            let what = format!(".search with {} bytes of filter", f.len());
            let r = http(&addr, "POST", "/scim/v2/Users/.search", Some(&read), Some(&body)).unwrap();
            let detail = scim_error(&what, r, 400, "invalidFilter");
            assert!(detail.contains("the limit is 200"), "{what}: {detail}");
            assert_alive(served, &what);
        }

        // At the limit every shape is answered (SQLite refuses a compound SELECT of more than 500 terms and an
        // expression tree deeper than 1,000: neither may surface).
        let at_limit = [
            (chain(200, r#"userName eq "ada""#, " or "), 1),
            (
                format!(
                    r#"{} or userName eq "grace""#,
                    chain(199, r#"emails.value eq "x""#, " or ")
                ),
                1,
            ),
            (chain(200, "title pr", " or "), 2),
            (chain(200, "title pr", " and "), 2),
            (chain(200, r#"title co "t""#, " or "), 2),
            (format!("{}title pr{}", "(".repeat(64), ")".repeat(64)), 2),
            (
                format!(
                    "{}{}{}",
                    "not (".repeat(32),
                    chain(150, "title pr", " or "),
                    ")".repeat(32)
                ),
                2,
            ),
        ];
        for (f, want) in &at_limit {
            let what = format!("{} bytes of filter at the limit", f.len());
            let uri = format!("/scim/v2/Users?filter={}", enc(f));
            let (status, body) = http(&addr, "GET", &uri, Some(&read), None).unwrap();
            assert_eq!(status, 200, "{what}: {body}");
            let v: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(v["totalResults"], *want, "{what}");
            assert_alive(served, &what);
        }
    });
}
