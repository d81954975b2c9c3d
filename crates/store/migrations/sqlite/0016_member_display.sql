-- Members' `display`: the one a client gave stays as given (RFC 7643 §4.2: members' sub-attributes are
-- immutable); a member added without one is shown with its current displayName, else a user's userName, derived
-- when the group is read. `display_lc` is the given one lower-cased, for case-insensitive `members.display` filters.
ALTER TABLE memberships ADD COLUMN display_lc TEXT;
UPDATE memberships SET display_lc = LOWER(display) WHERE display IS NOT NULL;
