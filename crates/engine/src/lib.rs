//! # roster-engine
//!
//! The provisioning engine: it keeps every connected app's accounts in line with the directory.
//!
//! ```text
//! journal ─▶ queue (one row per object) ─▶ worker: scope ─▶ map ─▶ link / match ─▶ plan ─▶ connector ─▶ log
//! ```
//!
//! | module | owns |
//! |---|---|
//! | [`config`] | an app's settings: target, auth, scope, mapping, matching, deprovision policy |
//! | [`mapping`] | mapping rules and their expression language |
//! | [`plan`] | the planner, a pure function from (source, link, target) to one action; diffs |
//! | [`connector`] | the SCIM client for targets: requests, auth, discovery, error classification |
//! | [`bulk`] | creates made at the same time sent together in `/Bulk` requests |
//! | [`codes`] | re-export of `roster-codes`: the error catalog, classifiers, `explain` |
//! | [`runtime`] | an app ready to sync: settings checked, mapping compiled, scope resolved; target snapshots |
//! | [`sync`] | syncing one object: gather the views, plan, execute, record |
//! | [`import`] | `roster import`: users and groups from CSV or JSON into the directory, idempotently |
//! | [`health`] | the clock, the request-outcome window that quarantines an app, the deprovision guard |
//! | [`trace`] | the redacted summary of the requests made for one object, for the provisioning log |
//! | [`runner`] | following the journal, draining the queue, full reconciles |

pub use roster_codes as codes;
pub mod bulk;
pub mod config;
pub mod connector;
pub mod google;
pub mod health;
pub mod import;
pub mod mapping;
pub mod plan;
pub mod runner;
pub mod runtime;
pub mod sync;
pub mod trace;
