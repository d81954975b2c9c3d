-- Equality filters on attributes that live only in the stored JSON, for the ones clients commonly
-- search: name.familyName, name.givenName, and the enterprise extension's employeeNumber and manager.value
-- (a manager's direct reports). Each expression repeats the one the filter translation produces
-- (`CAST((r.search #>> …) AS TEXT) COLLATE "C"`, the lower-cased copy, since these are case-insensitive), which
-- is what lets PostgreSQL's planner match it.
CREATE INDEX resources_family_name ON resources ((CAST((search #>> '{"name","familyName"}') AS TEXT)) COLLATE "C");
CREATE INDEX resources_given_name ON resources ((CAST((search #>> '{"name","givenName"}') AS TEXT)) COLLATE "C");
CREATE INDEX resources_employee_number ON resources ((CAST((search #>> '{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User","employeeNumber"}') AS TEXT)) COLLATE "C");
CREATE INDEX resources_manager ON resources ((CAST((search #>> '{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User","manager","value"}') AS TEXT)) COLLATE "C");
