-- 010_notify_made_for.sql: what form of channel a queued message's body was made
-- for. The configuration can change under a queued message (carrot-notify publish);
-- a body made for one form (a Slack post, an e-mail, a digest's line) is never sent
-- through a channel of the same name that is now another form: it is given up on,
-- with why. '' for the messages queued before this migration: not checked.
ALTER TABLE notify_outbox ADD COLUMN made_for text NOT NULL DEFAULT '';
