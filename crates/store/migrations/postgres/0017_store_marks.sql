-- Changes to stored rows that need Rust to compute (so no SQL migration can make them), each applied once when a
-- store connects and marked here: `user_name_identity_key` re-keys `user_name_lc` in the RFC 8265 identity form.
CREATE TABLE store_marks (
    name  TEXT PRIMARY KEY
);
