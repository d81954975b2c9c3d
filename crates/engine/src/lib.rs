//! # roster-engine
//!
//! The provisioning engine: it keeps every connected app's accounts in line with the directory.
//!
//! **Must never import** `roster-server` or the CLI (they call it), nor reach a target except through
//! `roster-connect` (the engine decides; the connector speaks to the app).
//!
//! ```text
//! journal ─▶ queue (one row per object) ─▶ worker: scope ─▶ map ─▶ link / match ─▶ plan ─▶ connect ─▶ log
//! ```
//!
//! | module | owns |
//! |---|---|
//! | [`config`] | an app's settings: its target (`roster_connect::TargetConfig`), scope, mapping, matching, deprovision policy |
//! | [`mapping`] | mapping rules and their expression language |
//! | [`plan`] | the planner, a pure function from (source, link, target) to one action; diffs |
//! | [`connect`] | re-export of `roster-connect`: the clients for targets (SCIM, Google), auth, the request gate, the request trace |
//! | [`codes`] | re-export of `roster-codes`: the error catalog, classifiers, `explain` |
//! | [`runtime`] | an app ready to sync: settings checked, mapping compiled, scope resolved; target snapshots |
//! | [`sync`] | syncing one object: gather the views, plan, execute, record |
//! | [`health`] | the clock, the request-outcome window that quarantines an app, the deprovision guard |
//! | [`runner`] | following the journal, draining the queue, full reconciles |

pub use roster_codes as codes;
pub use roster_connect as connect;
pub mod config;
pub mod health;
pub mod mapping;
pub mod plan;
pub mod runner;
pub mod runtime;
pub mod sync;
