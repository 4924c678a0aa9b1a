-- 002_double_entry: the book. Every movement of points (an award, a
-- redemption reserved, fulfilled or rejected, an expiry, a sweepstakes entry,
-- a prize) is one journal transaction whose entries sum to zero. Wallet and
-- pending entries belong to the transaction's participant; budget, redeemed,
-- expired and sweepstakes entries to its program. balances keeps the sums
-- for fast reads; `carrot-ledger verify` recomputes them from the entries.
CREATE TABLE programs (
    program_id    text PRIMARY KEY,
    expiry_months integer CHECK (expiry_months > 0), -- NULL: points never expire
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE journal (
    txn_id         bigserial PRIMARY KEY,
    program_id     text NOT NULL,
    kind           text NOT NULL
                   CHECK (kind IN ('award', 'reserve', 'fulfil', 'reject', 'expire', 'entry', 'prize')),
    ref            text NOT NULL, -- award id, redemption id, expiry date, entry or prize id
    participant_id text NOT NULL,
    booked_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (program_id, kind, ref)
);
CREATE INDEX journal_by_participant ON journal (program_id, participant_id, txn_id);

CREATE TABLE entries (
    txn_id  bigint NOT NULL REFERENCES journal,
    account text NOT NULL
            CHECK (account IN ('budget', 'wallet', 'pending', 'redeemed', 'expired', 'sweepstakes')),
    amount  bigint NOT NULL,
    PRIMARY KEY (txn_id, account)
);

CREATE TABLE balances (
    program_id     text NOT NULL,
    participant_id text NOT NULL,
    earned         bigint NOT NULL DEFAULT 0, -- lifetime, net of penalties and reversals: for tiers
    available      bigint NOT NULL DEFAULT 0, -- spendable now
    pending        bigint NOT NULL DEFAULT 0 CHECK (pending >= 0), -- reserved by redemptions
    expired        bigint NOT NULL DEFAULT 0,
    redeemed       bigint NOT NULL DEFAULT 0, -- spent on catalog items and sweepstakes entries
    PRIMARY KEY (program_id, participant_id)
);

-- Awards booked before this migration enter the book now.
INSERT INTO journal (program_id, kind, ref, participant_id, booked_at)
SELECT program_id, 'award', award_id, participant_id, booked_at FROM awards ORDER BY booked_at;
INSERT INTO entries (txn_id, account, amount)
SELECT j.txn_id, x.account, x.amount
FROM journal j JOIN awards a ON a.program_id = j.program_id AND a.award_id = j.ref
CROSS JOIN LATERAL (VALUES ('wallet', a.points), ('budget', -a.points)) AS x(account, amount)
WHERE j.kind = 'award';
INSERT INTO balances (program_id, participant_id, earned, available)
SELECT program_id, participant_id, sum(points), sum(points) FROM awards GROUP BY 1, 2;
