/* book.h: where awards are booked. A batch of awards is collected as COPY
 * rows, then written to PostgreSQL in one transaction together with the
 * Kafka offsets it advances, so rows and offsets commit together or not at
 * all. (program id, award id) is the primary key: a row already booked is
 * skipped. */
#ifndef CARROT_LEDGER_BOOK_H
#define CARROT_LEDGER_BOOK_H

#include "carrot/award.h"
#include "carrot/ledger_db.h"

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

typedef struct carrot_book_s carrot_book_t;

carrot_book_t *carrot_book_new(void);
void carrot_book_destroy(carrot_book_t *book); /* NULL is a no-op */

/* Empties the batch (keeps its memory). */
void carrot_book_reset(carrot_book_t *book);

/* Adds one award read from partition/offset; its strings are copied.
 * CARROT_LEDGER_FATAL only when out of memory (no errstr to fill). */
carrot_ledger_err_t carrot_book_add(carrot_book_t *book, const carrot_award_t *award,
                                    int32_t partition, int64_t offset);

/* Records that the batch advances partition to next_offset (for messages
 * that book nothing too, such as dead letters). FATAL: out of memory. */
carrot_ledger_err_t carrot_book_advance(carrot_book_t *book, int32_t partition,
                                        int64_t next_offset);

size_t carrot_book_count(const carrot_book_t *book);

/* Called by carrot_book_commit() for an award PostgreSQL refuses on its own
 * (a data error such as a timestamp out of range: SQLSTATE classes 22, 23,
 * 54), inside the open transaction, before it commits. reason is
 * PostgreSQL's message, valid during the call. The callback dead-letters the
 * message and returns 0 once that is durable; non-zero rolls the whole batch
 * back (carrot_book_commit then returns CARROT_LEDGER_FATAL). */
typedef int (*carrot_book_refused_cb)(void *opaque, int32_t partition, int64_t offset,
                                      const char *reason);

/* Writes the batch and the offsets of (group, topic) in one transaction.
 * Returns CARROT_LEDGER_OK, RETRY (connection lost, server shutting down,
 * serialization) or FATAL (anything else: a bug or a schema mismatch);
 * never REFUSED, as refused awards go to refused().
 * *insertedp gets the rows actually inserted (the rest were booked before,
 * or refused). When the batch fails on a data error, the transaction is
 * rolled back and the batch booked again in halves, each under a savepoint,
 * down to the single awards PostgreSQL refuses: those go to refused(), the
 * rest and every offset commit together, so no message can stop the ledger
 * and exactly-once holds. A refused award found again on a replay (the
 * commit failed after the callback) is reported again. */
carrot_ledger_err_t carrot_book_commit(carrot_book_t *book, PGconn *pg, const char *group,
                                       const char *topic, carrot_book_refused_cb refused,
                                       void *opaque, long long *insertedp, char *errstr,
                                       size_t errstr_size);

/* Reads the stored next offsets of (group, topic) for the given partitions
 * into offsets[i] (-1 when none is stored). */
carrot_ledger_err_t carrot_book_load_offsets(PGconn *pg, const char *group, const char *topic,
                                             const int32_t *partitions, int64_t *offsets, int n,
                                             char *errstr, size_t errstr_size);

#endif
