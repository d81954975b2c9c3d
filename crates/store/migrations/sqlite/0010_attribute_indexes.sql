-- Equality filters on two attributes that live only in the stored JSON and that clients commonly search by
-- equality: name.familyName and the enterprise extension's employeeNumber (HR-driven matching). Each index
-- costs inserts ~5-10 % (measured with `roster import` of 100k users), so only these two.
-- Each expression repeats, character for character, the text the filter
-- translation produces (`CAST(json_extract(r.search, …) AS TEXT)`, the lower-cased copy, since these are
-- case-insensitive), which is what lets SQLite's planner match it.
CREATE INDEX resources_family_name ON resources (CAST(json_extract(search, '$."name"."familyName"') AS TEXT));
CREATE INDEX resources_employee_number ON resources (CAST(json_extract(search, '$."urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"."employeeNumber"') AS TEXT));
