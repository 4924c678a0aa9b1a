-- 005_entries_unlinked: entries no longer carry a foreign key to journal.
-- The key cost the ledger writer two row locks per award (one check per
-- entry) and bought nothing that the writers do not already guarantee:
-- entries are only ever written by the statement or transaction that writes
-- their journal transaction (carrot_journal_post, and the ledger's direct
-- COPY of a batch, journal before entries), and nothing deletes from
-- journal. `carrot-ledger verify` checks it instead: "every entry has its
-- journal transaction".
ALTER TABLE entries DROP CONSTRAINT entries_txn_id_fkey;
