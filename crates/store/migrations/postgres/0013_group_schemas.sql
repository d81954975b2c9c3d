-- Groups that `roster import` created before it made them through the Group schema were stored without
-- `schemas`; every stored resource is a complete SCIM resource, whatever wrote it.
UPDATE resources
SET data = jsonb_set(data, '{schemas}', '["urn:ietf:params:scim:schemas:core:2.0:Group"]'::jsonb)
WHERE resource_type = 'Group' AND NOT (data ? 'schemas');
