-- 003_rewards: what points buy. A catalog of items with a price and a stock;
-- redemptions that reserve points until fulfilled or rejected; sweepstakes
-- (spin to win) whose draw is committed to by the SHA-256 of a secret seed
-- before entries open and can be re-checked by anyone once it is revealed.
CREATE TABLE catalog (
    program_id text NOT NULL,
    item_id    text NOT NULL,
    name       text NOT NULL,
    price      bigint NOT NULL CHECK (price > 0),
    stock      integer NOT NULL CHECK (stock >= 0),
    PRIMARY KEY (program_id, item_id)
);

CREATE TABLE redemptions (
    redemption_id  bigserial PRIMARY KEY,
    program_id     text NOT NULL,
    participant_id text NOT NULL,
    item_id        text NOT NULL,
    price          bigint NOT NULL CHECK (price > 0),
    status         text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'fulfilled', 'rejected')),
    reason         text,
    requested_at   timestamptz NOT NULL DEFAULT now(),
    decided_at     timestamptz,
    FOREIGN KEY (program_id, item_id) REFERENCES catalog
);

CREATE TABLE sweepstakes (
    program_id     text NOT NULL,
    sweepstakes_id text NOT NULL,
    name           text NOT NULL,
    entry_cost     bigint NOT NULL CHECK (entry_cost > 0),
    prizes         jsonb NOT NULL,  -- [{"prize": "e-bike" or null, "weight": 1, "points": 0}, ...]
    seed_sha256    text NOT NULL,   -- published when created
    seed           text,            -- revealed by the draw
    status         text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'drawn')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    drawn_at       timestamptz,
    PRIMARY KEY (program_id, sweepstakes_id)
);

CREATE TABLE sweepstakes_entries (
    program_id     text NOT NULL,
    sweepstakes_id text NOT NULL,
    entry_no       integer NOT NULL CHECK (entry_no > 0),
    participant_id text NOT NULL,
    bought_at      timestamptz NOT NULL DEFAULT now(),
    prize_index    integer, -- set by the draw: which prize this entry drew
    PRIMARY KEY (program_id, sweepstakes_id, entry_no),
    FOREIGN KEY (program_id, sweepstakes_id) REFERENCES sweepstakes
);
