//! The machine's yardstick for `bench/readpath.sh`: a bare axum handler on roster's HTTP stack (tokio, hyper,
//! axum, mimalloc-free) answering `GET /scim/v2/Users/{id}` with one fixed user, nothing read or checked. What
//! roster answers per second is compared with this, measured in the same run.
//!
//! `cargo run --release -p roster-server --example bare -- 127.0.0.1:PORT`

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;

const USER: &str = r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"2819c223-7f76-453a-919d-413861904646","userName":"bjensen@example.com","name":{"familyName":"Jensen","givenName":"Barbara"},"displayName":"Babs Jensen","active":true,"emails":[{"value":"bjensen@example.com","type":"work","primary":true}],"meta":{"resourceType":"User","created":"2026-12-07T08:00:00Z","lastModified":"2026-12-07T08:00:00Z","location":"http://127.0.0.1/scim/v2/Users/2819c223-7f76-453a-919d-413861904646","version":"W/\"1\""}}"#;

async fn user() -> impl IntoResponse {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/scim+json"),
            ),
            (header::ETAG, HeaderValue::from_static("W/\"1\"")),
        ],
        USER,
    )
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8090".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let app = Router::new().route("/scim/v2/Users/{id}", get(user));
    axum::serve(listener, app).await
}
