-- 008_adoption: adoption analytics (carrot-report, ledger/adoption/). Facts per
-- program, participant, day and activity type, kept exactly once by the facts
-- consumer from crm.activities, carrot.awards, carrot.participants and
-- crm.activities.dlq; the views below are what reports and BI tools read.

-- One row per program, day (the activity's occurred_at in the program's time
-- zone), participant and activity type. Partitioned by month: a month is
-- created the first time a fact of it arrives (adoption_partition()), and an
-- old one is dropped or detached whole (carrot-report partitions).
CREATE TABLE adoption_facts (
    program_id     text NOT NULL,
    day            date NOT NULL,
    participant_id text NOT NULL,
    activity_type  text NOT NULL,
    segment        text NOT NULL DEFAULT '',  -- as the latest activity carried them ('': none)
    band           text NOT NULL DEFAULT '',  -- the rules' maturity band of that activity
    team_id        text NOT NULL DEFAULT '',
    logged         bigint NOT NULL DEFAULT 0, -- CREATEs, each event id once
    q_judged       bigint NOT NULL DEFAULT 0, -- of them, judged by a quality rule
    complete       bigint NOT NULL DEFAULT 0, --   and judged complete by every such rule
    t_judged       bigint NOT NULL DEFAULT 0, -- of them, judged by a timeliness rule
    on_time        bigint NOT NULL DEFAULT 0, --   and logged within every such rule's full_hours
    deleted        bigint NOT NULL DEFAULT 0, -- of them, deleted since (net of UNDELETEs)
    points         bigint NOT NULL DEFAULT 0, -- awards of activities of this day (a reversal: its DELETE's day)
    PRIMARY KEY (program_id, day, participant_id, activity_type)
) PARTITION BY RANGE (day);

-- Creates the month partition holding d unless it exists; safe to race.
CREATE FUNCTION adoption_partition(d date) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    lo date := date_trunc('month', d)::date;
    name text := format('adoption_facts_%s', to_char(lo, 'YYYY_MM'));
BEGIN
    IF to_regclass(name) IS NOT NULL THEN
        RETURN;
    END IF;
    EXECUTE format('CREATE TABLE %I PARTITION OF adoption_facts FOR VALUES FROM (%L) TO (%L)',
                   name, lo, (lo + interval '1 month')::date);
EXCEPTION WHEN duplicate_table OR unique_violation THEN
    NULL; -- another consumer made it meanwhile
END $$;

-- Each participant's first logged activity (its day), for new participants
-- and first-activity cohorts without reading every partition.
CREATE TABLE adoption_first (
    program_id     text NOT NULL,
    participant_id text NOT NULL,
    first_day      date NOT NULL,
    PRIMARY KEY (program_id, participant_id)
);

-- Each CRM record once: what a DELETE takes back and an UNDELETE restores,
-- and the event ids applied to it, so a source's duplicate counts once.
CREATE TABLE adoption_records (
    program_id       text NOT NULL,
    source_system    text NOT NULL,
    source_record_id text NOT NULL,
    participant_id   text NOT NULL DEFAULT '',
    day              date,                     -- NULL: a tombstone (deleted before any CREATE)
    activity_type    text NOT NULL DEFAULT '',
    creates          integer NOT NULL DEFAULT 0,
    standing         boolean NOT NULL,
    events           text[] NOT NULL,
    PRIMARY KEY (program_id, source_system, source_record_id)
);
CREATE INDEX adoption_records_by_day ON adoption_records (day);

-- The facts' place in each topic partition: the next offset to apply. It is
-- the projection's, not a consumer group's: any group reading the topics
-- again skips what is below it (a replay moves nothing).
CREATE TABLE adoption_offsets (
    topic       text NOT NULL,
    partition   integer NOT NULL,
    next_offset bigint NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition)
);

-- The participants directory (carrot.participants), for eligibility and
-- names; the newest updated_at wins, as in Redis.
CREATE TABLE participants (
    program_id       text NOT NULL,
    participant_id   text NOT NULL,
    display_name     text,
    segment          text NOT NULL DEFAULT '',
    team_id          text NOT NULL DEFAULT '',
    region           text NOT NULL DEFAULT '',
    hired_at         timestamptz,
    level            integer,
    supervisor_id    text,
    active           boolean NOT NULL,
    hide_from_screen boolean NOT NULL DEFAULT false,
    updated_at       timestamptz NOT NULL,
    PRIMARY KEY (program_id, participant_id)
);

-- The rules' tenure bands in force, for the eligible participants of a band.
CREATE TABLE adoption_bands (
    program_id      text NOT NULL,
    band            text NOT NULL,
    ord             integer NOT NULL,          -- the first band that matches wins
    min_tenure_days integer,
    max_tenure_days integer,
    PRIMARY KEY (program_id, band)
);

-- The programs' time zones, from their rules (the days above are theirs).
CREATE TABLE adoption_programs (
    program_id    text PRIMARY KEY,
    timezone      text NOT NULL,
    rules_version text NOT NULL
);

-- Dead letters of the activity feed per day (UTC), program ('' when the
-- dead letter does not say), stage, source (a file without its line, an
-- HTTP path, a topic) and reason.
CREATE TABLE adoption_refusals (
    day        date NOT NULL,
    program_id text NOT NULL,
    stage      text NOT NULL,
    source     text NOT NULL,
    reason     text NOT NULL,
    refused    bigint NOT NULL,
    PRIMARY KEY (day, program_id, stage, source, reason)
);

-- ---- views for reports and BI tools ----

-- Period starts of a day: day, ISO week (Monday), month, quarter. Through
-- timestamp (without a zone), so the body is immutable and PostgreSQL inlines
-- the function into a query instead of calling it per row (date_trunc of a
-- date goes through timestamptz, which depends on the session's TimeZone).
CREATE FUNCTION adoption_period_start(kind text, d date) RETURNS date
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE kind WHEN 'day' THEN d
                     WHEN 'week' THEN date_trunc('week', d::timestamp)::date
                     WHEN 'month' THEN date_trunc('month', d::timestamp)::date
                     WHEN 'quarter' THEN date_trunc('quarter', d::timestamp)::date END
$$;

-- Each participant's activity per period: the grain of every report figure.
CREATE VIEW adoption_participant_periods AS
SELECT f.program_id, k.period, adoption_period_start(k.period, f.day) AS period_start,
       f.participant_id,
       max(f.segment) AS segment, max(f.band) AS band, max(f.team_id) AS team_id,
       sum(f.logged) AS logged, sum(f.deleted) AS deleted,
       sum(f.q_judged) AS q_judged, sum(f.complete) AS complete,
       sum(f.t_judged) AS t_judged, sum(f.on_time) AS on_time, sum(f.points) AS points,
       count(DISTINCT f.day) FILTER (WHERE f.logged > 0) AS days_active
FROM adoption_facts f
CROSS JOIN (VALUES ('day'), ('week'), ('month'), ('quarter')) AS k(period)
GROUP BY 1, 2, 3, 4;

-- Per program, period, segment, band and team: who was active and how much.
CREATE VIEW adoption_summary AS
SELECT program_id, period, period_start, segment, band, team_id,
       count(*) FILTER (WHERE logged > 0) AS active,
       sum(logged) AS activities, sum(deleted) AS deleted,
       sum(q_judged) AS q_judged, sum(complete) AS complete,
       sum(t_judged) AS t_judged, sum(on_time) AS on_time, sum(points) AS points
FROM adoption_participant_periods
GROUP BY 1, 2, 3, 4, 5, 6;

-- The eligible: every active participant of the directory, with the band
-- their tenure (whole days from hired_at to today, in UTC) puts them in.
CREATE VIEW adoption_eligible AS
SELECT p.program_id, p.participant_id, p.segment, p.team_id,
       coalesce((SELECT b.band FROM adoption_bands b
                 WHERE b.program_id = p.program_id AND p.hired_at IS NOT NULL
                   AND (b.min_tenure_days IS NULL OR t.days >= b.min_tenure_days)
                   AND (b.max_tenure_days IS NULL OR t.days <= b.max_tenure_days)
                 ORDER BY b.ord LIMIT 1), '') AS band
FROM participants p
CROSS JOIN LATERAL (SELECT (now() AT TIME ZONE 'UTC')::date
                           - (p.hired_at AT TIME ZONE 'UTC')::date AS days) t
WHERE p.active;

-- Refusals per program, source and reason, per day.
CREATE VIEW adoption_refused AS
SELECT program_id, day, stage, source, reason, refused FROM adoption_refusals;

-- A manager's token: reads the adoption page of its program (carrot-board).
ALTER TABLE display_tokens DROP CONSTRAINT display_tokens_kind_check;
ALTER TABLE display_tokens ADD CONSTRAINT display_tokens_kind_check
    CHECK (kind IN ('display', 'participant', 'manager'));
