-- 009_notify: carrot-notify. What happened that people are told of (each
-- trigger once, by a stable id), the outbox of messages rendered from it (one
-- per trigger, recipient and channel, with the idempotency key a channel
-- gets), every attempt of a delivery and the channel's answer, who opted out
-- of what, where a participant is reached, and the consumer's places: the
-- messages, the triggers and the places move in one transaction. Each
-- deployment of carrot-notify (its consumer group, "notifier") has its own
-- triggers, outbox and places: two with different channels share nothing but
-- the opt-outs and contacts, which are the people's.
CREATE TABLE notify_events (
    notifier       text NOT NULL,             -- the consumer group
    event_id       text NOT NULL,             -- "goal:<P>:<award id>", "commit:<P>:<c>:<period>:<p>:missed", ...
    program_id     text NOT NULL,
    kind           text NOT NULL,             -- the trigger: goal, number_one, top_n, overtaken, ...
    participant_id text,
    fields         jsonb NOT NULL,            -- what its templates may use
    occurred_at    timestamptz NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (notifier, event_id)
);
CREATE INDEX notify_events_by_participant ON notify_events (program_id, participant_id, created_at);

CREATE TABLE notify_outbox (
    message_id        bigserial PRIMARY KEY,
    notifier          text NOT NULL,
    idempotency_key   text NOT NULL,          -- of notifier, event, channel, recipient: sent with it
    event_id          text NOT NULL,
    program_id        text NOT NULL,
    kind              text NOT NULL,
    channel           text NOT NULL,          -- the channel's name in the configuration
    recipient         text NOT NULL,          -- participant id, supervisor id, or '' (a team channel)
    address           text NOT NULL DEFAULT '', -- an e-mail address; '' for webhooks
    subject           text NOT NULL DEFAULT '',
    body              text NOT NULL,          -- rendered when queued: a retry sends the same bytes
    config_version    text NOT NULL,
    state             text NOT NULL DEFAULT 'pending'
                      CHECK (state IN ('pending', 'sending', 'sent', 'dead', 'skipped')),
    attempts          integer NOT NULL DEFAULT 0,
    claimed_by        text,                   -- the member (instance) that last took it to send
    next_at           timestamptz NOT NULL DEFAULT now(),
    possibly_repeated boolean NOT NULL DEFAULT false, -- a send after a crash mid-delivery, on a
                                                      -- channel that takes no idempotency key
    last_status       integer,
    last_answer       text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    sent_at           timestamptz,
    UNIQUE (notifier, idempotency_key),
    FOREIGN KEY (notifier, event_id) REFERENCES notify_events
);
CREATE INDEX notify_outbox_due ON notify_outbox (notifier, next_at)
    WHERE state IN ('pending', 'sending');
CREATE INDEX notify_outbox_by_recipient ON notify_outbox (program_id, recipient, created_at);

CREATE TABLE notify_attempts (
    message_id  bigint NOT NULL REFERENCES notify_outbox,
    attempt     integer NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    status      integer,                      -- HTTP status or SMTP reply code; NULL: no answer
    answer      text NOT NULL,                -- the channel's answer (capped), or the error
    outcome     text NOT NULL CHECK (outcome IN ('sent', 'retry', 'dead')),
    PRIMARY KEY (message_id, attempt)
);

CREATE TABLE notify_optouts (
    program_id     text NOT NULL,
    participant_id text NOT NULL,
    trigger        text NOT NULL,             -- a trigger, or '*'
    channel        text NOT NULL,             -- a channel's name, or '*'
    at             timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (program_id, participant_id, trigger, channel)
);

CREATE TABLE notify_contacts (
    program_id     text NOT NULL,
    participant_id text NOT NULL,
    email          text,
    time_zone      text,                      -- IANA; NULL: the configuration's
    PRIMARY KEY (program_id, participant_id)
);

CREATE TABLE notify_offsets (
    notifier    text NOT NULL,
    topic       text NOT NULL,
    partition   integer NOT NULL,
    next_offset bigint NOT NULL,
    PRIMARY KEY (notifier, topic, partition)
);

-- the top of each watched board as last seen, to tell who entered it, took
-- number one or was overtaken; a board's first sight is its baseline
CREATE TABLE notify_ranks (
    notifier       text NOT NULL,
    program_id     text NOT NULL,
    board          text NOT NULL,
    ranks          jsonb NOT NULL,            -- [{"p": id, "r": rank, "n": points}, ...]
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (notifier, program_id, board)
);

-- how far the ledger's tables have been looked at (settlements, redemptions,
-- draws): a row's time and key, so a restart neither repeats nor skips
CREATE TABLE notify_cursors (
    notifier   text NOT NULL,
    source     text NOT NULL,             -- settlements, redemptions, draws; digests: the last look
    since      timestamptz NOT NULL,
    PRIMARY KEY (notifier, source)
);
CREATE INDEX commitment_settlements_settled ON commitment_settlements (settled_at);
CREATE INDEX redemptions_decided ON redemptions (decided_at) WHERE decided_at IS NOT NULL;
CREATE INDEX sweepstakes_drawn ON sweepstakes (drawn_at) WHERE drawn_at IS NOT NULL;
