-- 004_draw_close: entries close before the draw, and the draw depends on
-- what closed. Closing a sweepstakes stores (and prints, to be published)
-- the SHA-256 of its entry list; each outcome is then keyed by the seed and
-- that hash, so not even the holder of the seed can tell which entries win
-- before the list is final. Sweepstakes drawn before this migration keep
-- entries_sha256 NULL, and `verify` checks them by the earlier formula.
ALTER TABLE sweepstakes DROP CONSTRAINT sweepstakes_status_check;
ALTER TABLE sweepstakes
    ADD CONSTRAINT sweepstakes_status_check CHECK (status IN ('open', 'closed', 'drawn')),
    ADD COLUMN entries_sha256 text, -- published at close: lines "<entry_no>:<participant_id>\n"
    ADD COLUMN closed_at timestamptz,
    ADD CONSTRAINT sweepstakes_closed_has_entries_sha256
        CHECK (status <> 'closed' OR entries_sha256 IS NOT NULL);
