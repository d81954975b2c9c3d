-- Deprovisions an admin discarded (`roster approve --discard`): the object's directory version at the time
-- (-1: the object was deleted). While the version is the same, a deprovision planned again for the object is
-- not held again; a change to the object, or a sync that finds it back in the app's scope, ends the discard.
CREATE TABLE deprovision_discards (
    app            TEXT NOT NULL REFERENCES apps (name) ON DELETE CASCADE,
    resource_type  TEXT NOT NULL,
    source_id      TEXT NOT NULL,
    version        BIGINT NOT NULL,
    PRIMARY KEY (app, resource_type, source_id)
);
