-- 006_display_tokens: read-only access tokens of carrot-board: a display's
-- (a kiosk URL per program) or a participant's (a link to their own page).
-- Only the SHA-256 of a token's secret is kept, so a copy of the database
-- opens no screen; a revoked token keeps its row (who had access, and when).
CREATE TABLE display_tokens (
    token_id       text PRIMARY KEY,          -- the token's public half
    program_id     text NOT NULL,
    kind           text NOT NULL CHECK (kind IN ('display', 'participant')),
    participant_id text,                      -- kind participant: whose page
    label          text NOT NULL DEFAULT '',
    secret_sha256  bytea NOT NULL CHECK (length(secret_sha256) = 32),
    created_at     timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz,
    CHECK ((kind = 'participant') = (participant_id IS NOT NULL))
);
CREATE INDEX display_tokens_by_program ON display_tokens (program_id, kind);
