#![allow(clippy::unwrap_used)]
use super::translate::*;
use super::*;
use base64::Engine as _;

fn key_json(key: &aws_lc_rs::rsa::KeyPair) -> String {
    use aws_lc_rs::encoding::AsDer as _;
    let der = key.as_der().unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    json!({
        "type": "service_account",
        "client_email": "svc@project.iam.gserviceaccount.com",
        "private_key": format!("-----BEGIN PRIVATE KEY-----\n{b64}\n-----END PRIVATE KEY-----\n"),
        "token_uri": "https://oauth2.example.test/token",
    })
    .to_string()
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

#[test]
fn the_assertion_is_a_jwt_signed_with_the_key_for_the_admin_and_the_directory_scopes() {
    let key = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let sa = ServiceAccount::from_json(&key_json(&key)).unwrap();
    assert_eq!(sa.client_email, "svc@project.iam.gserviceaccount.com");
    let jwt = sa.assertion("admin@example.com", 1_700_000_000).unwrap();
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3);
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let claims: Value = serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
    assert_eq!(claims["iss"], "svc@project.iam.gserviceaccount.com");
    assert_eq!(claims["sub"], "admin@example.com");
    assert_eq!(claims["aud"], "https://oauth2.example.test/token");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        3600
    );
    assert!(
        claims["scope"]
            .as_str()
            .unwrap()
            .contains("admin.directory.group.member")
    );
    use aws_lc_rs::signature::KeyPair as _;
    let public = aws_lc_rs::signature::UnparsedPublicKey::new(
        &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
        key.public_key().as_ref(),
    );
    let signed = format!("{}.{}", parts[0], parts[1]);
    assert!(
        public
            .verify(signed.as_bytes(), &b64.decode(parts[2]).unwrap())
            .is_ok()
    );
    // A changed claim no longer verifies.
    let forged = format!(
        "{}.{}",
        parts[0],
        b64.encode(claims.to_string().replace("admin@", "other@"))
    );
    assert!(
        public
            .verify(forged.as_bytes(), &b64.decode(parts[2]).unwrap())
            .is_err()
    );
}

#[test]
fn a_bad_key_file_is_named_without_quoting_the_key() {
    let key = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let good: Value = serde_json::from_str(&key_json(&key)).unwrap();
    let secret_part = good["private_key"].as_str().unwrap().lines().nth(1).unwrap()[..40].to_owned();
    let mut oauth_client = good.clone();
    oauth_client["type"] = json!("authorized_user");
    let mut no_email = good.clone();
    no_email.as_object_mut().unwrap().remove("client_email");
    let mut broken = good.clone();
    broken["private_key"] = json!(format!(
        "-----BEGIN PRIVATE KEY-----\n{secret_part}\n-----END PRIVATE KEY-----"
    ));
    for (text, says) in [
        ("a bearer token".to_owned(), "not a Google service account key"),
        (oauth_client.to_string(), "not of type 'service_account'"),
        (no_email.to_string(), "no 'client_email'"),
        (broken.to_string(), "private_key"),
    ] {
        let err = ServiceAccount::from_json(&text).unwrap_err();
        assert!(err.contains(says), "{err}");
        assert!(!err.contains(&secret_part), "{err}");
    }
}

#[test]
fn a_user_goes_to_google_and_comes_back_as_the_same_view() {
    let scim = obj(json!({
        "userName": "ada@example.com",
        "externalId": "dir-1",
        "active": false,
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"value": "ada@example.com", "type": "work", "primary": true},
                   {"value": "ada@home.example", "type": "personal"}],
        "phoneNumbers": [{"value": "+44 20 7946 0000", "type": "mobile"}],
        "title": "Analyst",
        "displayName": "Ada L.",
        ENTERPRISE: {"department": "Research", "employeeNumber": "42"},
        USER_EXT: {"orgUnitPath": "/Research", "includeInGlobalAddressList": "False"},
    }));
    let g = user_to_google(&scim, false).unwrap();
    assert_eq!(g["primaryEmail"], "ada@example.com");
    assert_eq!(g["suspended"], true);
    assert_eq!(g["orgUnitPath"], "/Research");
    assert_eq!(g["includeInGlobalAddressList"], false);
    assert_eq!(
        g["emails"][1],
        json!({"address": "ada@home.example", "type": "custom", "customType": "personal"})
    );
    assert_eq!(g["organizations"][0]["department"], "Research");
    assert!(g.get("password").is_none(), "no password outside create");
    let back = user_from_google(&g);
    let norm = normalize(ResourceKind::User, scim.clone(), &cfg());
    assert_eq!(
        back, norm,
        "the view of what Google stores is the normalised desired state"
    );
    assert!(
        norm.get("displayName").is_none(),
        "Google keeps no displayName, so it is not compared"
    );
    assert_eq!(
        normalize(ResourceKind::User, norm.clone(), &cfg()),
        norm,
        "normalising is idempotent"
    );
}

fn cfg() -> GoogleConfig {
    GoogleConfig {
        admin: "admin@example.com".into(),
        customer: "my_customer".into(),
        group_domain: None,
    }
}

#[test]
fn a_create_carries_a_password_and_a_user_name_must_be_an_address() {
    let u = obj(json!({"userName": "bo@example.com", "name": {"givenName": "Bo", "familyName": "Ek"}}));
    let a = user_to_google(&u, true).unwrap();
    let b = user_to_google(&u, true).unwrap();
    let pa = a["password"].as_str().unwrap();
    assert_eq!(pa.len(), 24);
    assert_ne!(pa, b["password"].as_str().unwrap(), "random each time");
    let mut with = u.clone();
    with.insert("password".into(), json!("Chosen-pass-1"));
    assert_eq!(user_to_google(&with, true).unwrap()["password"], "Chosen-pass-1");
    for bad in ["bo", "bo@", "@example.com", "bo@localhost", "b o@example.com"] {
        let mut x = u.clone();
        x.insert("userName".into(), json!(bad));
        let err = user_to_google(&x, true).unwrap_err();
        assert!(err.contains("not an email address"), "{bad}: {err}");
    }
    assert!(user_to_google(&obj(json!({"name": {"givenName": "X"}})), true).is_err());
}

#[test]
fn group_addresses_are_made_from_names() {
    assert_eq!(
        group_address("Engineering Team", "example.com"),
        "engineering-team@example.com"
    );
    assert_eq!(
        group_address("  R&D / Ops ", "example.com"),
        "r-d-ops@example.com"
    );
    assert_eq!(
        group_address("sales.emea", "example.com"),
        "sales.emea@example.com"
    );
    assert_eq!(group_address("Ünïcode!", "example.com"), "n-code@example.com");
    assert_eq!(group_address("***", "example.com"), "group@example.com");
    let g = group_to_google(&obj(json!({"displayName": "All Staff"})), cfg().group_domain());
    assert_eq!(g["email"], "all-staff@example.com");
    let explicit = group_to_google(
        &obj(json!({"displayName": "All Staff", GROUP_EXT: {"email": "everyone@corp.example"}})),
        "groups.example.com",
    );
    assert_eq!(explicit["email"], "everyone@corp.example");
    assert_eq!(
        GoogleConfig {
            group_domain: Some("groups.example.com".into()),
            ..cfg()
        }
        .group_domain(),
        "groups.example.com"
    );
}

#[test]
fn matching_filters_become_directory_searches() {
    assert_eq!(
        queries(
            ResourceKind::User,
            r#"userName eq "a@x.com" or emails.value eq "b@x.com""#
        )
        .unwrap(),
        ["email:'a@x.com'", "email:'b@x.com'"]
    );
    assert_eq!(
        queries(ResourceKind::User, r#"externalId eq "o'neil""#).unwrap(),
        [r"externalId:'o\'neil'"]
    );
    assert_eq!(
        queries(ResourceKind::Group, r#"displayName eq "Sales""#).unwrap(),
        ["name:'Sales'"]
    );
    // Terms Google cannot search are left out; nothing searchable is an error.
    assert_eq!(
        queries(ResourceKind::User, r#"title eq "x" or userName eq "a@x.com""#).unwrap(),
        ["email:'a@x.com'"]
    );
    assert!(queries(ResourceKind::User, r#"title eq "x""#).is_err());
    assert!(queries(ResourceKind::User, r#"userName sw "a""#).is_err());
}

#[test]
fn removed_attributes_are_cleared_in_google() {
    let p = |s: &str| PatchPath::parse(s).unwrap();
    assert_eq!(
        cleared(ResourceKind::User, &p("externalId")),
        Some(("externalIds", json!([])))
    );
    assert_eq!(
        cleared(ResourceKind::User, &p("phoneNumbers")),
        Some(("phones", json!([])))
    );
    assert_eq!(
        cleared(ResourceKind::User, &p(&format!("{USER_EXT}:orgUnitPath"))),
        Some(("orgUnitPath", json!("/")))
    );
    assert_eq!(cleared(ResourceKind::User, &p("userName")), None);
}

#[test]
fn the_definitions_hold_what_google_keeps() {
    let defs = definitions();
    let ids: Vec<&str> = defs.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(
        ids,
        [roster_scim::schema::CORE_USER, ENTERPRISE, USER_EXT, GROUP_EXT]
    );
    let core = &defs[0];
    let names: Vec<&str> = core.attributes.iter().map(|a| a.name.as_str()).collect();
    assert!(names.contains(&"userName") && names.contains(&"emails"));
    assert!(
        !names.contains(&"displayName") && !names.contains(&"locale"),
        "{names:?}"
    );
}

/// An operation the Directory API has no request for is refused by name before anything is sent, never dropped.
#[tokio::test]
async fn operations_google_cannot_carry_out_are_refused_not_dropped() {
    let key = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let mut cfg = crate::TargetConfig::google("admin@example.com");
    // Nothing listens here: a request that went out would fail as unreachable, not as unsupported.
    cfg.set_url("http://127.0.0.1:9");
    let secret = roster_codes::redact::Secret::new(key_json(&key));
    let client = crate::Connector::new(&cfg, &crate::Options::default(), Some(secret)).unwrap();
    let op = |kind, path: &str, value| PatchOp {
        op: kind,
        path: Some(PatchPath::parse(path).unwrap()),
        value,
    };
    for (kind, ops) in [
        (
            ResourceKind::Group,
            vec![op(Op::Remove, r#"members[display eq "Ann"]"#, None)],
        ),
        (ResourceKind::User, vec![op(Op::Remove, "userName", None)]),
        (
            ResourceKind::User,
            vec![op(
                Op::Replace,
                r#"emails[type eq "work"].value"#,
                Some(json!("a@x.test")),
            )],
        ),
    ] {
        let e = client.patch(kind, "id-1", &ops).await.unwrap_err();
        assert!(
            *e.code == codes::TARGET_UNSUPPORTED || *e.code == codes::TARGET_INVALID_VALUE,
            "{ops:?}: {e}"
        );
        assert!(e.message.starts_with("not sent:"), "{e}");
        assert!(e.status.is_none(), "nothing was sent: {e}");
    }
}
