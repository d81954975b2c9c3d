//! Bulk fuzz target: any body either fails with a SCIM error or gives operations whose `bulkId` references
//! resolve (or fail with a message) without panicking, however they nest or refer to each other.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roster_scim::messages::{BulkRequest, resolve_bulk_ids};

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    let Ok(req) = BulkRequest::from_json(&body, 1000) else { return };
    let known = |id: &str| (id.len() % 2 == 0).then(|| format!("id-{id}"));
    for op in req.operations {
        if let Some(mut d) = op.data {
            let _ = resolve_bulk_ids(&mut d, &known);
        }
    }
});
