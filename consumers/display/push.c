/* push.c: carrot-board's live push: Server-Sent Events per board.
 *
 * A thread per program reads the program's feed stream (what each scorer
 * transaction changed, written in that same transaction: ranking/feed.c)
 * and follows its rules. When the feed moved, at most every
 * push-interval-ms, it reads each board that has clients and sends the
 * board to them if it differs from what they were last sent; a goal
 * reached, a commitment met or a streak (from a period's close) in the feed
 * is a celebration, and so is a new number one.
 *
 * Exactness across a scorer crash: a replayed batch applies nothing, so it
 * appends nothing to the feed and pushes nothing; a celebration comes from a
 * feed entry, so it is sent once. Every event carries the feed id it
 * reflects ("id:"), increasing, so a page can ignore anything not newer than
 * what it shows, and a client that reconnects with Last-Event-ID gets the
 * board as it is now plus the celebrations it missed (or, when the feed was
 * trimmed past its id, the board alone).
 *
 * Celebrations carrot-notify posts to the feed (its display channel) are
 * shown as they come, in the same order and with the same ids; with
 * builtin-celebrations off they are the only ones, so a screen shows what
 * the program's notification configuration says, once.
 *
 * Streams are libmicrohttpd responses from a content reader: a client with
 * nothing to send is suspended, and resumed when something is queued. A
 * client whose queue grows past sse-queue-bytes cannot keep up: its stream
 * is ended (the page reconnects and starts from a snapshot) and counted. */
#include "carrot/directory.h"
#include "carrot/log.h"
#include "carrot/period.h"
#include "carrot/rules_topic.h"
#include "carrot/timeutil.h"
#include "display.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_BOARDS 64 /* boards with clients, per program */
#define MAX_PROMOS 32 /* as the rules allow */

typedef struct client_s {
    struct client_s *prev, *next;
    hub_t *h;
    program_t *p;
    char board[DISPLAY_ID_MAX + 64];
    struct MHD_Connection *conn;
    char since[CARROT_BOARD_FEED_ID_MAX]; /* the feed id of its snapshot */
    pthread_mutex_t lock;                 /* the fields below */
    char *buf;
    size_t len, off, cap;
    int suspended, closed;
} client_t;

typedef struct {
    char board[DISPLAY_ID_MAX + 64];
    char *payload; /* the last JSON sent */
    char top[DISPLAY_ID_MAX + 1];
} sent_t;

typedef struct {
    hub_t *h;
    program_t *p;
    pthread_t thread;
    int started;
    sent_t sent[MAX_BOARDS];
    int nsent;
    /* held while the feeder handles what it read, and while a client
     * subscribes: a client then gets each feed entry once, either in its
     * replay (up to done) or from the feeder (after done) */
    pthread_mutex_t step;
    char done[CARROT_BOARD_FEED_ID_MAX]; /* the feed id handled through; "" not yet */
    /* the promotions running at the last look: one that joins is celebrated */
    char running[MAX_PROMOS][64];
    int nrunning, looked;
} feeder_t;

struct hub_s {
    display_t *d;
    pthread_mutex_t lock; /* the client list */
    client_t *clients;
    int nclients;
    feeder_t feeders[DISPLAY_MAX_PROGRAMS];
};

hub_t *hub_new(display_t *d) {
    hub_t *h = calloc(1, sizeof(*h));
    if (!h) return NULL;
    h->d = d;
    pthread_mutex_init(&h->lock, NULL);
    for (int i = 0; i < DISPLAY_MAX_PROGRAMS; i++) pthread_mutex_init(&h->feeders[i].step, NULL);
    return h;
}

/* Appends text to c's queue; ends the stream when it is too far behind. Called
 * under h->lock; *resumep is set when c must be resumed (after the locks). */
static void queue(hub_t *h, client_t *c, const char *text, size_t len, int *resumep) {
    pthread_mutex_lock(&c->lock);
    if (!c->closed) {
        if (c->len - c->off + len > (size_t)h->d->cf->sse_queue_bytes) {
            c->closed = 1; /* too slow: it reconnects and starts from a snapshot */
            c->len = c->off = 0;
            carrot_metric_add(h->d->m_sse_dropped, 1);
        } else {
            if (c->off && c->off == c->len) c->off = c->len = 0;
            if (c->len + len > c->cap) {
                size_t cap = c->cap ? c->cap : 4096;
                while (cap < c->len + len) cap *= 2;
                char *nb = realloc(c->buf, cap);
                if (nb) c->buf = nb, c->cap = cap;
            }
            if (c->len + len <= c->cap) {
                memcpy(c->buf + c->len, text, len);
                c->len += len;
            } else {
                c->closed = 1;
            }
        }
    }
    *resumep = c->suspended;
    c->suspended = 0;
    pthread_mutex_unlock(&c->lock);
}

/* "id: ...\nevent: ...\ndata: ...\n\n" (data is one line: compact JSON). */
static char *sse_event(const char *id, const char *event, const char *data, size_t *lenp) {
    size_t need = strlen(data) + strlen(event) + (id ? strlen(id) : 0) + 32;
    char *s = malloc(need);
    if (!s) return NULL;
    int n = id ? snprintf(s, need, "id: %s\nevent: %s\ndata: %s\n\n", id, event, data)
               : snprintf(s, need, "event: %s\ndata: %s\n\n", event, data);
    *lenp = (size_t)n;
    return s;
}

/* Sends text to the clients of p (on board, or all of p's when board is NULL). */
static int feed_id_cmp(const char *a, const char *b);

/* Queues text for the clients of p (of board only, when not NULL). An event
 * with an id goes only to clients whose snapshot is older (since): a client
 * that subscribed after the feed moved already shows it. */
static void broadcast(hub_t *h, program_t *p, const char *board, const char *id, const char *text,
                      size_t len) {
    struct MHD_Connection *local[64], **resume = local;
    size_t nresume = 0, cap = 64;
    pthread_mutex_lock(&h->lock);
    for (client_t *c = h->clients; c; c = c->next) {
        if (c->p != p || (board && strcmp(c->board, board) != 0)) continue;
        if (id && c->since[0] && feed_id_cmp(id, c->since) <= 0) continue;
        int r;
        queue(h, c, text, len, &r);
        if (!r) continue;
        if (nresume == cap) { /* out of room: resume what we have under the lock */
            struct MHD_Connection **nr = malloc(2 * cap * sizeof(*nr));
            if (!nr) {
                MHD_resume_connection(c->conn);
                continue;
            }
            memcpy(nr, resume, nresume * sizeof(*nr));
            if (resume != local) free(resume);
            resume = nr;
            cap *= 2;
        }
        resume[nresume++] = c->conn;
    }
    pthread_mutex_unlock(&h->lock);
    /* a suspended connection cannot end, so these outlive the unlock */
    for (size_t i = 0; i < nresume; i++) MHD_resume_connection(resume[i]);
    if (resume != local) free(resume);
    carrot_metric_add(h->d->m_pushes, (double)nresume);
}

static ssize_t reader(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    client_t *c = cls;
    pthread_mutex_lock(&c->lock);
    if (c->off < c->len) {
        size_t n = c->len - c->off < max ? c->len - c->off : max;
        memcpy(buf, c->buf + c->off, n);
        c->off += n;
        pthread_mutex_unlock(&c->lock);
        return (ssize_t)n;
    }
    if (c->closed) {
        pthread_mutex_unlock(&c->lock);
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    c->suspended = 1; /* nothing to send: parked until queue() has something */
    MHD_suspend_connection(c->conn);
    pthread_mutex_unlock(&c->lock);
    return 0;
}

static void client_free(void *cls) {
    client_t *c = cls;
    hub_t *h = c->h;
    pthread_mutex_lock(&h->lock);
    if (c->prev) c->prev->next = c->next;
    else
        h->clients = c->next;
    if (c->next) c->next->prev = c->prev;
    h->nclients--;
    carrot_metric_set(h->d->m_sse_clients, h->nclients);
    pthread_mutex_unlock(&h->lock);
    pthread_mutex_destroy(&c->lock);
    free(c->buf);
    free(c);
}

/* --- celebrations -------------------------------------------------------- */

typedef struct {
    feeder_t *f;
    session_t *s;
    char last[CARROT_BOARD_FEED_ID_MAX];
    int moved;
    client_t *to;      /* a replay: celebrations only, to this client (subscribe) */
    const char *until; /* a replay: entries up to this id only ("": all) */
} feed_ctx_t;

/* Compares two stream ids "<ms>-<seq>" as numbers. */
static int feed_id_cmp(const char *a, const char *b) {
    unsigned long long am = strtoull(a, NULL, 10), bm = strtoull(b, NULL, 10);
    const char *ad = strchr(a, '-'), *bd = strchr(b, '-');
    unsigned long long as = ad ? strtoull(ad + 1, NULL, 10) : 0,
                       bs = bd ? strtoull(bd + 1, NULL, 10) : 0;
    return am != bm ? (am < bm ? -1 : 1) : as != bs ? (as < bs ? -1 : 1) : 0;
}

static void celebrate(feed_ctx_t *x, const char *id, json_t *o) {
    char *data = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    size_t len;
    char *ev = data ? sse_event(id, "celebrate", data, &len) : NULL;
    free(data);
    if (!ev) return;
    if (x->to) {
        int r;
        pthread_mutex_lock(&x->f->h->lock);
        queue(x->f->h, x->to, ev, len, &r); /* not yet on the list: nothing to resume */
        pthread_mutex_unlock(&x->f->h->lock);
    } else {
        broadcast(x->f->h, x->f->p, NULL, NULL, ev, len);
    }
    free(ev);
}

/* The celebration of one award line of the feed (carrot_board_change_t),
 * as screens show it; NULL for a line it does not know. */
static json_t *celebration(program_t *p, const char *name, const char *rule, int64_t points) {
    if (strncmp(rule, "goal.", 5) == 0)
        return json_pack("{sssssssI}", "kind", "goal", "name", name, "goal", rule + 5, "bonus",
                         (json_int_t)points);
    const char *id = rule + 7, *dot = strrchr(rule, '.'); /* "commit.<id>.met" */
    if (strncmp(rule, "commit.", 7) != 0 || dot <= id) return NULL;
    char cid[CARROT_RULE_ID_MAX];
    snprintf(cid, sizeof(cid), "%.*s", (int)(dot - id), id);
    int streak = strcmp(dot, ".streak") == 0;
    json_t *o = json_pack("{sssssssI}", "kind", streak ? "streak" : "commitment", "name", name,
                          "commitment", cid, "bonus", (json_int_t)points);
    pthread_mutex_lock(&p->lock); /* what was agreed, from the rules in force */
    const carrot_commitment_t *c =
        p->rules ? carrot_rules_commitment(p->rules, carrot_rules_commitment_find(p->rules, cid))
                 : NULL;
    if (o && c) {
        json_object_set_new(o, "text", json_string(c->text));
        json_object_set_new(o, "period", json_string(carrot_period_name(c->period)));
        if (streak) json_object_set_new(o, "periods", json_integer(c->streak_periods));
    }
    pthread_mutex_unlock(&p->lock);
    return o;
}

static int on_entry(void *opaque, const char *id, const char *source,
                    const carrot_board_change_t *ch, size_t n, const char *post) {
    (void)source;
    feed_ctx_t *x = opaque;
    if (x->until && x->until[0] && feed_id_cmp(id, x->until) > 0) return 0; /* the feeder's */
    snprintf(x->last, sizeof(x->last), "%s", id);
    if (post) { /* carrot-notify's, as its configuration words it: shown as it is */
        json_t *o = json_loads(post, 0, NULL);
        if (json_is_object(o)) celebrate(x, id, o);
        else
            json_decref(o);
        return 0;
    }
    x->moved = 1;
    if (!x->f->h->d->cf->builtin_celebrations) return 0;
    for (size_t i = 0; i < n; i++) {
        if (ch[i].ncelebrations == 0) continue;
        carrot_participant_t who;
        const char *ids[] = {ch[i].participant_id};
        char errstr[256];
        if (carrot_directory_get(x->s->dir, x->f->p->id, ids, 1, &who, errstr, sizeof(errstr)) != 0)
            who.found = 0;
        if (who.found && who.hide_from_screen) continue; /* never named on a screen */
        const char *name = who.found ? carrot_participant_screen_name(&who) : ch[i].participant_id;
        for (int g = 0; g < ch[i].ncelebrations; g++) {
            json_t *o = celebration(x->f->p, name, ch[i].celebration_rule[g],
                                    ch[i].celebration_points[g]);
            if (o) celebrate(x, id, o);
        }
    }
    return 0;
}

/* --- the feeder: one thread per program ----------------------------------- */

static sent_t *sent_of(feeder_t *f, const char *board) {
    for (int i = 0; i < f->nsent; i++)
        if (strcmp(f->sent[i].board, board) == 0) return &f->sent[i];
    if (f->nsent == MAX_BOARDS) return NULL;
    sent_t *s = &f->sent[f->nsent++];
    memset(s, 0, sizeof(*s));
    snprintf(s->board, sizeof(s->board), "%.*s", (int)sizeof(s->board) - 1, board);
    return s;
}

/* Reads and sends every board with clients that changed. */
static void flush(feeder_t *f, session_t *s, const char *last) {
    hub_t *h = f->h;
    char boards[MAX_BOARDS][DISPLAY_ID_MAX + 64];
    int nb = 0;
    pthread_mutex_lock(&h->lock);
    for (client_t *c = h->clients; c; c = c->next) {
        if (c->p != f->p) continue;
        int seen = 0;
        for (int i = 0; i < nb && !seen; i++) seen = strcmp(boards[i], c->board) == 0;
        if (!seen && nb < MAX_BOARDS) snprintf(boards[nb++], sizeof(boards[0]), "%s", c->board);
    }
    pthread_mutex_unlock(&h->lock);
    for (int i = 0; i < nb; i++) {
        char errstr[512];
        unsigned st;
        json_t *o = api_board_json(s, f->p, boards[i], 0, h->d->cf->top, &st, errstr,
                                   sizeof(errstr));
        if (!o) {
            carrot_warn("push: %s", errstr);
            continue;
        }
        char *data = json_dumps(o, JSON_COMPACT);
        sent_t *sn = sent_of(f, boards[i]);
        json_t *first = json_array_get(json_object_get(o, "entries"), 0);
        const char *top = first ? json_string_value(json_object_get(first, "name")) : NULL;
        if (data && sn && (!sn->payload || strcmp(sn->payload, data) != 0)) {
            size_t len;
            char *ev = sse_event(last, "board", data, &len);
            if (ev) broadcast(h, f->p, boards[i], last, ev, len);
            free(ev);
            if (top && sn->top[0] && strcmp(sn->top, top) != 0 && strcmp(top, "hidden") != 0 &&
                h->d->cf->builtin_celebrations) {
                json_t *c = json_pack(
                    "{sssssI}", "kind", "number_one", "name", top, "points",
                    (json_int_t)json_integer_value(json_object_get(first, "points")));
                char *cd = json_dumps(c, JSON_COMPACT);
                json_decref(c);
                char *cev = cd ? sse_event(last, "celebrate", cd, &len) : NULL;
                if (cev)
                    broadcast(h, f->p, boards[i], last, cev, len); /* the board's clients only */
                free(cev);
                free(cd);
            }
            free(sn->payload);
            sn->payload = data;
            data = NULL;
        }
        if (sn && top) snprintf(sn->top, sizeof(sn->top), "%s", top);
        free(data);
        json_decref(o);
    }
}

/* The program's rules from carrot.rules, for "what earns points now". */
static void follow_rules(feeder_t *f, carrot_rules_feed_t *rf) {
    carrot_rules_t *rules = NULL;
    char errstr[512];
    int rc = carrot_rules_feed_poll(rf, 0, 0, &rules, errstr, sizeof(errstr));
    if (rc < 0) carrot_warn("rules of %s: %s (keeping the rules in force)", f->p->id, errstr);
    if (rc != 1) return;
    program_t *p = f->p;
    pthread_mutex_lock(&p->lock);
    carrot_rules_destroy(p->rules);
    p->rules = rules;
    snprintf(p->tz, sizeof(p->tz), "%s", carrot_rules_timezone(rules));
    pthread_mutex_unlock(&p->lock);
    carrot_info("rules of %s: version %s", p->id, carrot_rules_version(rules));
}

/* Celebrates each promotion that started running since the last look (by
 * its time, or by new rules); the first look after start only records. */
static void promotions(feeder_t *f) {
    program_t *p = f->p;
    pthread_mutex_lock(&p->lock);
    char *text = p->rules ? carrot_rules_explain(p->rules, carrot_time_now_ms()) : NULL;
    pthread_mutex_unlock(&p->lock);
    json_t *o = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    if (!o) return;
    char now[MAX_PROMOS][64];
    int n = 0;
    json_t *pr;
    size_t i;
    json_array_foreach(json_object_get(o, "promotions"), i, pr) {
        const char *id = json_string_value(json_object_get(pr, "id"));
        if (!id || !json_is_true(json_object_get(pr, "running")) || n == MAX_PROMOS) continue;
        snprintf(now[n++], sizeof(now[0]), "%s", id);
        int known = 0;
        for (int k = 0; k < f->nrunning && !known; k++) known = strcmp(f->running[k], id) == 0;
        if (known || !f->looked) continue;
        json_t *c = json_pack("{sssOsOsOsO}", "kind", "promotion", "promotion",
                              json_object_get(pr, "id"), "to", json_object_get(pr, "to"),
                              "multiplier", json_object_get(pr, "multiplier"), "bonus",
                              json_object_get(pr, "bonus"));
        char *data = c ? json_dumps(c, JSON_COMPACT) : NULL;
        json_decref(c);
        size_t len;
        char *ev = data ? sse_event(NULL, "celebrate", data, &len) : NULL;
        if (ev) broadcast(f->h, p, NULL, NULL, ev, len);
        carrot_info("promotion %s of %s started: celebrated on %s's screens", id, p->id, p->id);
        free(ev);
        free(data);
    }
    memcpy(f->running, now, sizeof(now));
    f->nrunning = n;
    f->looked = 1;
    json_decref(o);
}

static int wake(void *opaque, const char *id, const char *source, const carrot_board_change_t *ch,
                size_t n, const char *post) {
    (void)opaque, (void)id, (void)source, (void)ch, (void)n, (void)post;
    return 0; /* only a sign that the feed moved: the entry is read again under the lock */
}

static void *feeder(void *arg) {
    feeder_t *f = arg;
    display_t *d = f->h->d;
    session_t s = {.d = d,
                   .board = carrot_board_new(d->cf->redis_host, (int)d->cf->redis_port,
                                             (int)d->cf->redis_timeout_ms),
                   .dir = carrot_directory_new(d->cf->redis_host, (int)d->cf->redis_port,
                                               (int)d->cf->redis_timeout_ms)};
    char errstr[512];
    carrot_rules_feed_t *rf = NULL;
    feed_ctx_t x = {.f = f, .s = &s};
    snprintf(x.last, sizeof(x.last), "0-0");
    int have_last = 0;
    int64_t last_flush = 0, last_beat = carrot_time_mono_ms(), last_warn = 0, last_promo = 0;
    while (!atomic_load(&d->stop) && s.board && s.dir) {
        if (!rf && d->cf->brokers && *d->cf->brokers)
            rf = carrot_rules_feed_new(d->conf, d->cf->brokers, d->cf->rules_topic, f->p->id,
                                       errstr, sizeof(errstr));
        if (rf) follow_rules(f, rf);
        carrot_board_err_t rc = CARROT_BOARD_OK;
        if (!have_last) {
            pthread_mutex_lock(&f->step);
            rc = carrot_board_feed_last(s.board, f->p->id, x.last, errstr, sizeof(errstr));
            have_last = rc == CARROT_BOARD_OK;
            if (have_last) snprintf(f->done, sizeof(f->done), "%s", x.last);
            pthread_mutex_unlock(&f->step);
        }
        /* wait for the feed to move (outside the lock), then handle it under the lock */
        int wait_ms = 500; /* with a change held back, only until it may go */
        if (x.moved) {
            int64_t left = d->cf->push_interval_ms - (carrot_time_mono_ms() - last_flush);
            wait_ms = left < 1 ? 1 : left < 500 ? (int)left : 500;
        }
        if (!rc)
            rc = carrot_board_feed_read(s.board, f->p->id, x.last, wait_ms, 1, wake, NULL, NULL,
                                        errstr, sizeof(errstr));
        pthread_mutex_lock(&f->step);
        if (!rc)
            rc = carrot_board_feed_read(s.board, f->p->id, x.last, 0, 1000, on_entry, &x, NULL,
                                        errstr, sizeof(errstr));
        snprintf(f->done, sizeof(f->done), "%s", x.last);
        int64_t now = carrot_time_mono_ms();
        if (!rc && x.moved && now - last_flush >= d->cf->push_interval_ms) {
            flush(f, &s, x.last);
            x.moved = 0;
            last_flush = now;
        }
        pthread_mutex_unlock(&f->step);
        if (rc) {
            if (now - last_warn > 10000) {
                carrot_warn("push of %s: %s", f->p->id, errstr);
                last_warn = now;
            }
            usleep(200 * 1000);
            continue;
        }
        if (now - last_promo >= 1000 && d->cf->builtin_celebrations) {
            promotions(f);
            last_promo = now;
        }
        if (now - last_beat >= d->cf->heartbeat_ms) { /* also finds the clients that went away */
            static const char ping[] = ": ping\n\n";  /* its NUL is not sent */
            broadcast(f->h, f->p, NULL, NULL, ping, sizeof(ping) - 1);
            last_beat = now;
        }
    }
    carrot_rules_feed_destroy(rf);
    carrot_board_destroy(s.board);
    carrot_directory_destroy(s.dir);
    for (int i = 0; i < f->nsent; i++) free(f->sent[i].payload);
    return NULL;
}

int hub_start(hub_t *h, char *errstr, size_t errstr_size) {
    for (int i = 0; i < h->d->nprograms; i++) {
        feeder_t *f = &h->feeders[i];
        f->h = h;
        f->p = &h->d->programs[i];
        if (pthread_create(&f->thread, NULL, feeder, f) != 0) {
            snprintf(errstr, errstr_size, "cannot start the push thread of %s", f->p->id);
            return -1;
        }
        f->started = 1;
    }
    return 0;
}

enum MHD_Result hub_subscribe(hub_t *h, session_t *s, struct MHD_Connection *conn, program_t *p,
                              const char *board, const char *last_event_id) {
    display_t *d = h->d;
    pthread_mutex_lock(&h->lock);
    int full = h->nclients >= d->cf->max_sse_clients || atomic_load(&d->stop);
    pthread_mutex_unlock(&h->lock);
    if (full) return http_answer(conn, api_error(503, "too many live screens on this server"));
    client_t *c = calloc(1, sizeof(*c));
    if (!c) return MHD_NO;
    c->h = h;
    c->p = p;
    c->conn = conn;
    snprintf(c->board, sizeof(c->board), "%s", board);
    pthread_mutex_init(&c->lock, NULL);
    feeder_t *f = &h->feeders[p - d->programs];
    /* under the feeder's step lock: the celebrations missed (those the feeder
     * has handled; it sends this client the later ones), then the board as it
     * is now, whose id is the last one the client holds */
    pthread_mutex_lock(&f->step);
    char errstr[512];
    unsigned st = 500;
    size_t len;
    int r;
    static const char retry[] = "retry: 3000\n\n";
    queue(h, c, retry, sizeof(retry) - 1, &r);
    if (last_event_id && *last_event_id && strlen(last_event_id) < CARROT_BOARD_FEED_ID_MAX) {
        feed_ctx_t x = {.f = f, .s = s, .to = c, .until = f->done};
        int gap = 0;
        snprintf(x.last, sizeof(x.last), "%s", last_event_id);
        /* a bad id is no id: the snapshot is all the client gets */
        if (carrot_board_feed_read(s->board, p->id, last_event_id, 0, 1000, on_entry, &x, &gap,
                                   errstr, sizeof(errstr)) != 0)
            carrot_debug("Last-Event-ID %s: %s", last_event_id, errstr);
    }
    json_t *o = api_board_json(s, p, board, 0, d->cf->top, &st, errstr, sizeof(errstr));
    if (!o) {
        pthread_mutex_unlock(&f->step);
        pthread_mutex_destroy(&c->lock);
        free(c->buf);
        free(c);
        carrot_warn("push: %s", errstr);
        return http_answer(conn, api_error(st == 503 ? 503 : 500, "the board cannot be read now"));
    }
    const char *version = json_string_value(json_object_get(o, "version"));
    if (version) snprintf(c->since, sizeof(c->since), "%s", version);
    char *data = json_dumps(o, JSON_COMPACT);
    char *ev = data ? sse_event(version, "board", data, &len) : NULL;
    if (ev) queue(h, c, ev, len, &r);
    free(ev);
    free(data);
    json_decref(o);
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, reader,
                                                                  c, client_free);
    if (!resp) {
        pthread_mutex_unlock(&f->step);
        pthread_mutex_destroy(&c->lock);
        free(c->buf);
        free(c);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "text/event-stream");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    pthread_mutex_lock(&h->lock);
    c->next = h->clients;
    if (h->clients) h->clients->prev = c;
    h->clients = c;
    h->nclients++;
    carrot_metric_set(d->m_sse_clients, h->nclients);
    pthread_mutex_unlock(&h->lock);
    pthread_mutex_unlock(&f->step);
    enum MHD_Result rc = MHD_queue_response(conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp); /* the connection holds it; client_free runs when it ends */
    return rc;
}

void hub_close_all(hub_t *h) {
    struct MHD_Connection *resume[256];
    int n;
    do {
        n = 0;
        pthread_mutex_lock(&h->lock);
        for (client_t *c = h->clients; c && n < 256; c = c->next) {
            pthread_mutex_lock(&c->lock);
            c->closed = 1;
            if (c->suspended) c->suspended = 0, resume[n++] = c->conn;
            pthread_mutex_unlock(&c->lock);
        }
        pthread_mutex_unlock(&h->lock);
        for (int i = 0; i < n; i++) MHD_resume_connection(resume[i]);
    } while (n == 256);
}

void hub_destroy(hub_t *h) {
    if (!h) return;
    for (int i = 0; i < h->d->nprograms; i++)
        if (h->feeders[i].started) pthread_join(h->feeders[i].thread, NULL);
    for (int i = 0; i < DISPLAY_MAX_PROGRAMS; i++) pthread_mutex_destroy(&h->feeders[i].step);
    pthread_mutex_destroy(&h->lock);
    free(h);
}
