-- Every process (and every `roster sync`) working for an app says so here each round, so an app's concurrency can
-- be divided among the processes that share it.
CREATE TABLE app_participants (
    app         TEXT NOT NULL,
    participant TEXT NOT NULL,
    seen        BIGINT NOT NULL,
    PRIMARY KEY (app, participant)
);
