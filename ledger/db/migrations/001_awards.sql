-- 001_awards: the awards booked from carrot.awards, and the Kafka offsets
-- committed in the same transaction as the rows (the ledger's exactly-once
-- bookkeeping: on start it resumes from these, not from Kafka's).
CREATE TABLE awards (
    award_id         text NOT NULL,
    program_id       text NOT NULL,
    event_id         text NOT NULL,
    participant_id   text NOT NULL,
    segment          text,
    team_id          text,
    region           text,
    activity_type    text NOT NULL,
    rule_id          text NOT NULL,
    rules_version    text NOT NULL,
    points           bigint NOT NULL,
    occurred_at      timestamptz NOT NULL,
    awarded_at       timestamptz NOT NULL,
    source_partition integer NOT NULL,
    source_offset    bigint NOT NULL,
    booked_at        timestamptz NOT NULL DEFAULT now(),
    -- event ids are unique within a program; one CRM record may feed two programs
    PRIMARY KEY (program_id, award_id)
);
CREATE INDEX awards_by_participant ON awards (program_id, participant_id);

CREATE TABLE kafka_offsets (
    consumer_group text NOT NULL,
    topic          text NOT NULL,
    partition      integer NOT NULL,
    next_offset    bigint NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, topic, partition)
);
