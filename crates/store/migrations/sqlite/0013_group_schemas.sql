-- Groups that `roster import` created before it made them through the Group schema were stored without
-- `schemas`; every stored resource is a complete SCIM resource, whatever wrote it.
UPDATE resources
SET data = json_set(data, '$.schemas', json('["urn:ietf:params:scim:schemas:core:2.0:Group"]'))
WHERE resource_type = 'Group' AND json_extract(data, '$.schemas') IS NULL;
