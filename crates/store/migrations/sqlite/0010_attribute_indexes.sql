-- Equality filters on attributes that live only in the stored JSON, for the ones clients commonly
-- search: name.familyName, name.givenName, and the enterprise extension's employeeNumber and manager.value
-- (a manager's direct reports). Each expression repeats, character for character, the text the filter
-- translation produces (`CAST(json_extract(r.search, …) AS TEXT)`, the lower-cased copy, since these are
-- case-insensitive), which is what lets SQLite's planner match it.
CREATE INDEX resources_family_name ON resources (CAST(json_extract(search, '$."name"."familyName"') AS TEXT));
CREATE INDEX resources_given_name ON resources (CAST(json_extract(search, '$."name"."givenName"') AS TEXT));
CREATE INDEX resources_employee_number ON resources (CAST(json_extract(search, '$."urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"."employeeNumber"') AS TEXT));
CREATE INDEX resources_manager ON resources (CAST(json_extract(search, '$."urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"."manager"."value"') AS TEXT));
