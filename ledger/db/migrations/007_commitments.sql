-- 007_commitments: accountability. What a supervisor set for a participant
-- and what the participant acknowledged (an audit trail: rows are only
-- added), what each period's close settled (once per program, commitment,
-- period and participant), and the supervisors' follow-ups of the misses.
CREATE TABLE commitment_changes (
    change_id      bigserial PRIMARY KEY,
    program_id     text NOT NULL,
    commitment_id  text NOT NULL,
    participant_id text NOT NULL,
    kind           text NOT NULL CHECK (kind IN ('set', 'acknowledge')),
    target         bigint NOT NULL CHECK (target > 0), -- set: the new target; acknowledge: the one agreed
    by_id          text NOT NULL,                      -- set: the supervisor; acknowledge: the participant
    note           text NOT NULL DEFAULT '',
    at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX commitment_changes_by_participant
    ON commitment_changes (program_id, participant_id, commitment_id, change_id);

CREATE TABLE commitment_settlements (
    program_id      text NOT NULL,
    commitment_id   text NOT NULL,
    period_id       text NOT NULL,                 -- "w:2026-W47"
    participant_id  text NOT NULL,
    supervisor_id   text NOT NULL DEFAULT '',      -- as the directory had it at the close
    metric          text NOT NULL,
    figure          bigint NOT NULL,               -- count or points; shares: records judged good
    judged          bigint NOT NULL DEFAULT 0,     -- shares: records judged
    target          bigint NOT NULL,
    met             boolean NOT NULL,
    streak          integer NOT NULL,              -- periods met in a row, this one included
    misses          integer NOT NULL,              -- periods missed in a row, this one included
    set_by          text NOT NULL DEFAULT '',      -- '' : the rules' default target
    acknowledged_at timestamptz,                   -- NULL: never acknowledged
    bonus           bigint NOT NULL DEFAULT 0,     -- the consequences, booked as awards
    penalty         bigint NOT NULL DEFAULT 0,
    streak_bonus    bigint NOT NULL DEFAULT 0,
    rules_version   text NOT NULL,
    period_end      timestamptz NOT NULL,
    settled_at      timestamptz NOT NULL DEFAULT now(),
    booked_at       timestamptz,                   -- NULL until the awards are in Kafka
    PRIMARY KEY (program_id, commitment_id, period_id, participant_id)
);
CREATE INDEX commitment_settlements_latest          -- a commitment's latest closed period
    ON commitment_settlements (program_id, commitment_id, period_end DESC);
CREATE INDEX commitment_settlements_unbooked
    ON commitment_settlements (program_id) WHERE booked_at IS NULL;

CREATE TABLE commitment_followups (
    followup_id    bigserial PRIMARY KEY,
    program_id     text NOT NULL,
    commitment_id  text NOT NULL,
    period_id      text NOT NULL,
    participant_id text NOT NULL,
    by_id          text NOT NULL,                  -- the supervisor who followed up
    kind           text NOT NULL CHECK (kind IN ('reminder', 'discussion', 'note')),
    note           text NOT NULL DEFAULT '',
    held_on        date NOT NULL DEFAULT current_date,
    at             timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (program_id, commitment_id, period_id, participant_id)
        REFERENCES commitment_settlements
);
CREATE INDEX commitment_followups_of
    ON commitment_followups (program_id, commitment_id, period_id, participant_id);
