/* SPDX-License-Identifier: MIT
 *
 * The embedded store: SQLite in WAL mode with synchronous=FULL, written by one
 * thread with group commit. It persists the event stream and reads it back at
 * startup; it must never decide anything about a session, and never make a
 * change visible to a client before it is durable (the callback is the ack).
 */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "store/sqlite_read.h"
#include "store/store.h"
#include "util/log.h"

typedef struct job job_t;
struct job {
    cf_events_t ev;
    cf_store_done_fn done;
    void *arg;
    int status;
    job_t *next;
};

typedef struct {
    job_t *head, *tail;
} job_list_t;

enum {
    ST_UPSERT,
    ST_ACTIVITY,
    ST_TOKEN,
    ST_NOT_BEFORE,
    ST_DEL_SESSION,
    ST_DEL_TOKENS,
    ST_HOLD,
    ST_APIKEY,
    ST_BEGIN, /* transaction control, prepared once like the rest: parsing it */
    ST_COMMIT, /* per batch cost more than writing the batch's rows */
    ST_SAVEPOINT,
    ST_RELEASE,
    ST_ROLLBACK_TO,
    ST__COUNT
};

static const char *const statements[ST__COUNT] = {
    [ST_UPSERT] =
        "INSERT INTO sessions(id, sub, client_id, scope, roles, auth_time, created_at,"
        " last_activity, idle_timeout, absolute_timeout, access_ttl, idle_deadline,"
        " absolute_deadline, ended_at, end_reason, refresh_gen, refresh_rotated_at, ip, device, cnf)"
        " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20)"
        " ON CONFLICT(id) DO UPDATE SET last_activity = max(last_activity, excluded.last_activity),"
        " idle_deadline = max(idle_deadline, excluded.idle_deadline), ended_at = excluded.ended_at,"
        " end_reason = excluded.end_reason, refresh_gen = excluded.refresh_gen,"
        " refresh_rotated_at = excluded.refresh_rotated_at,"
        " cnf = CASE sessions.cnf WHEN '' THEN excluded.cnf ELSE sessions.cnf END" /* bound once */
        " WHERE sessions.ended_at = 0", /* an ended session is never revived */
    [ST_ACTIVITY] = "UPDATE sessions SET last_activity = ?2, idle_deadline = ?3"
                    " WHERE id = ?1 AND ended_at = 0 AND last_activity < ?2",
    [ST_TOKEN] = "INSERT OR REPLACE INTO refresh_tokens(hash, sid, gen) VALUES(?1, ?2, ?3)",
    [ST_NOT_BEFORE] = "INSERT INTO not_before(sub, at) VALUES(?1, ?2)"
                      " ON CONFLICT(sub) DO UPDATE SET at = max(at, excluded.at)",
    [ST_DEL_SESSION] = "DELETE FROM sessions WHERE id = ?1",
    [ST_DEL_TOKENS] = "DELETE FROM refresh_tokens WHERE sid = ?1",
    [ST_HOLD] = "INSERT INTO alert_hold(sub, until_ms) VALUES(?1, ?2)"
                " ON CONFLICT(sub) DO UPDATE SET until_ms = max(until_ms, excluded.until_ms)",
    [ST_APIKEY] = cf_sq_apikey_upsert,
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_SAVEPOINT] = "SAVEPOINT job",
    [ST_RELEASE] = "RELEASE job",
    [ST_ROLLBACK_TO] = "ROLLBACK TO job",
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS sessions("
    " id TEXT PRIMARY KEY, sub TEXT NOT NULL, client_id TEXT NOT NULL, scope TEXT NOT NULL,"
    " roles TEXT NOT NULL, auth_time INTEGER NOT NULL, created_at INTEGER NOT NULL,"
    " last_activity INTEGER NOT NULL, idle_timeout INTEGER NOT NULL,"
    " absolute_timeout INTEGER NOT NULL, access_ttl INTEGER NOT NULL,"
    " idle_deadline INTEGER NOT NULL, absolute_deadline INTEGER NOT NULL,"
    " ended_at INTEGER NOT NULL, end_reason TEXT NOT NULL, refresh_gen INTEGER NOT NULL,"
    " refresh_rotated_at INTEGER NOT NULL, ip TEXT NOT NULL DEFAULT '',"
    " device TEXT NOT NULL DEFAULT '', cnf TEXT NOT NULL DEFAULT '') WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS refresh_tokens("
    " hash BLOB PRIMARY KEY, sid TEXT NOT NULL, gen INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS refresh_tokens_sid ON refresh_tokens(sid);"
    "CREATE TABLE IF NOT EXISTS not_before(sub TEXT PRIMARY KEY, at INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS alert_hold(sub TEXT PRIMARY KEY, until_ms INTEGER NOT NULL);";

/* Schema version 2 added the risk binding (ip, device) to sessions. */
static const char migrate_v1_to_v2[] =
    "ALTER TABLE sessions ADD COLUMN ip TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE sessions ADD COLUMN device TEXT NOT NULL DEFAULT '';";

/* Schema version 3 keeps alert holds (disable_refresh) across restarts. */
static const char migrate_v2_to_v3[] =
    "CREATE TABLE IF NOT EXISTS alert_hold(sub TEXT PRIMARY KEY, until_ms INTEGER NOT NULL);";

/* Schema version 4 adds API keys (cf_sq_apikey_schema, run for every version below). */

/* Schema version 5 adds the sender constraint (DPoP jkt, mTLS x5t#S256) to sessions. */
static const char migrate_to_v5[] = "ALTER TABLE sessions ADD COLUMN cnf TEXT NOT NULL DEFAULT '';";

#define SCHEMA_VERSION 5
/* Checkpoint once the WAL holds this many frames (SQLite's default). */
#define CHECKPOINT_FRAMES 1000
/* The page cache, in KiB (SQLite's default is 2 MiB). */
#define CACHE_KIB 16384
#define CF_STR_(x) #x
#define CF_STR(x) CF_STR_(x)

typedef struct sq_store sq_t;
struct sq_store {
    cf_store_t base; /* first: the interface */
    sqlite3 *db;
    sqlite3_stmt *stmt[ST__COUNT];
    uv_loop_t *loop;
    uv_async_t async;
    uv_thread_t thread;
    uv_mutex_t mu;
    uv_cond_t cv;
    job_list_t pending; /* guarded by mu */
    job_list_t done;    /* guarded by mu */
    int stopping;       /* guarded by mu */
    int thread_started;
    int hinted; /* the start-up failure was already explained */
    int wal_frames; /* the WAL's length after the last commit (writer thread) */
    cf_sq_check_t check; /* the start-up integrity check, beside the load */
    cf_store_stats_t stats; /* loop thread, except commits/events/commit_* (writer, under mu) */
};

static void list_push(job_list_t *l, job_t *j)
{
    j->next = NULL;
    if (l->tail != NULL)
        l->tail->next = j;
    else
        l->head = j;
    l->tail = j;
}

static job_t *list_take(job_list_t *l)
{
    job_t *h = l->head;

    l->head = l->tail = NULL;
    return h;
}

static int db_fail(sq_t *st, const char *what)
{
    return cf_sq_fail(st->db, what);
}

/* ------------------------------------------------------------------ */
/* Writer thread                                                       */
/* ------------------------------------------------------------------ */

static int step_done(sq_t *st, sqlite3_stmt *s, const char *what)
{
    int rc = sqlite3_step(s);

    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (rc != SQLITE_DONE)
        return db_fail(st, what);
    return 0;
}

static int write_session(sq_t *st, const cf_session_t *s)
{
    sqlite3_stmt *q = st->stmt[ST_UPSERT];

    sqlite3_bind_text(q, 1, s->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, s->sub, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, cf_session_client_id(s), -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 4, cf_session_scope(s), -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 5, cf_session_roles(s), -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 6, cf_session_auth_time(s));
    sqlite3_bind_int64(q, 7, s->created_at);
    sqlite3_bind_int64(q, 8, cf_session_last_activity(s));
    sqlite3_bind_int64(q, 9, cf_session_limits(s)->idle_timeout);
    sqlite3_bind_int64(q, 10, cf_session_limits(s)->absolute_timeout);
    sqlite3_bind_int64(q, 11, cf_session_limits(s)->access_ttl);
    sqlite3_bind_int64(q, 12, cf_session_idle_deadline(s));
    sqlite3_bind_int64(q, 13, cf_session_absolute_deadline(s));
    sqlite3_bind_int64(q, 14, cf_session_ended_at(s));
    sqlite3_bind_text(q, 15, s->end == CF_END_NONE ? "" : cf_end_name(s->end), -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 16, s->refresh_gen);
    sqlite3_bind_int64(q, 17, cf_session_rotated_at(s));
    sqlite3_bind_text(q, 18, cf_session_ip(s), -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 19, cf_session_device(s), -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 20, cf_session_cnf_text(s) != NULL ? cf_session_cnf_text(s) : "", -1,
                      SQLITE_STATIC);
    return step_done(st, q, "upsert_session");
}

static int write_event(sq_t *st, const cf_event_t *e)
{
    sqlite3_stmt *q;
    int rc = 0;

    switch (e->type) {
    case CF_EV_SESSION_CREATED:
    case CF_EV_TOKEN_REFRESHED:
    case CF_EV_SESSION_ENDED:
        rc = write_session(st, e->session);
        break;
    case CF_EV_ACTIVITY:
        q = st->stmt[ST_ACTIVITY];
        sqlite3_bind_text(q, 1, e->session->id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 2, cf_session_last_activity(e->session));
        sqlite3_bind_int64(q, 3, cf_session_idle_deadline(e->session));
        rc = step_done(st, q, "activity");
        break;
    case CF_EV_NOT_BEFORE:
        q = st->stmt[ST_NOT_BEFORE];
        sqlite3_bind_text(q, 1, e->sub != NULL ? e->sub : "", -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 2, e->not_before);
        rc = step_done(st, q, "not_before");
        break;
    case CF_EV_ALERT_HOLD:
        q = st->stmt[ST_HOLD];
        sqlite3_bind_text(q, 1, e->sub != NULL ? e->sub : "", -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 2, e->until);
        rc = step_done(st, q, "alert_hold");
        break;
    case CF_EV_SESSION_PURGED:
        q = st->stmt[ST_DEL_TOKENS];
        sqlite3_bind_text(q, 1, e->sid, -1, SQLITE_STATIC);
        rc = step_done(st, q, "purge_tokens");
        if (rc == 0) {
            q = st->stmt[ST_DEL_SESSION];
            sqlite3_bind_text(q, 1, e->sid, -1, SQLITE_STATIC);
            rc = step_done(st, q, "purge_session");
        }
        break;
    case CF_EV_APIKEY_CREATED:
    case CF_EV_APIKEY_ROTATED:
    case CF_EV_APIKEY_ENDED:
    case CF_EV_APIKEY_USED:
    case CF_EV_APIKEY_EXPIRING: {
        char nets[CF_APIKEY_NETS_MAX * 52];
        q = st->stmt[ST_APIKEY];
        cf_sq_apikey_bind(q, e->apikey, nets, sizeof nets);
        rc = step_done(st, q, "apikey");
        break;
    }
    default:
        break;
    }
    if (rc == 0 && e->has_token) {
        q = st->stmt[ST_TOKEN];
        sqlite3_bind_blob(q, 1, e->token_hash, sizeof e->token_hash, SQLITE_STATIC);
        sqlite3_bind_text(q, 2, e->sid, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 3, e->token_gen);
        rc = step_done(st, q, "refresh_token");
    }
    return rc;
}

static int exec(sq_t *st, const char *sql)
{
    if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return db_fail(st, sql);
    return 0;
}

/* A failed COMMIT may already have rolled back (SQLite does so on an I/O
 * error or a full disk): only a transaction still open is rolled back, so
 * the log holds the real failure and not a second "no transaction" error. */
static void rollback_open(sq_t *st)
{
    if (!sqlite3_get_autocommit(st->db))
        (void)exec(st, "ROLLBACK");
}

/* Each job gets a savepoint, so one bad batch fails alone while the others
 * in the same transaction still commit. */
const double cf_store_commit_bounds[CF_STORE_COMMIT_NBOUNDS] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
    0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5,
};

/*
 * A COMMIT that failed (an fsync reporting EIO, a full disk) may still have
 * left the transaction's frames in the WAL file, complete with a commit frame:
 * the write reached the page cache, only the sync failed. This connection no
 * longer sees them (the wal-index was not advanced), and the next commit
 * overwrites them, but a crash before that would let WAL recovery bring back
 * a change that was answered "not stored". So invalidate them now: the first
 * frame after the last committed one (mxFrame in the wal-index header, see
 * sqlite.org/walformat.html) gets a zeroed header, and recovery stops there.
 * Best effort: if even that write fails, the disk is gone for good.
 */
static void scrub_failed_frames(sq_t *st)
{
    const char *db = sqlite3_db_filename(st->db, "main");
    char path[4096];
    unsigned char hdr[20];
    uint8_t zero[24] = {0};
    uint32_t mx, pgsz;
    uint16_t sz;
    int fd;
    ssize_t n;

    if (db == NULL || db[0] == '\0' || snprintf(path, sizeof path, "%s-shm", db) >= (int)sizeof path)
        return;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    n = pread(fd, hdr, sizeof hdr, 0);
    close(fd);
    if (n != (ssize_t)sizeof hdr || hdr[12] == 0) /* isInit */
        return;
    memcpy(&sz, hdr + 14, sizeof sz);   /* native byte order, like SQLite */
    memcpy(&mx, hdr + 16, sizeof mx);
    pgsz = sz == 1 ? 65536 : sz;
    if (pgsz < 512)
        return;
    snprintf(path, sizeof path, "%s-wal", db);
    fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    if (pwrite(fd, zero, sizeof zero, 32 + (off_t)mx * (24 + (off_t)pgsz)) != (ssize_t)sizeof zero)
        CF_LOG(CF_LOG_ERROR, "event=store_error op=scrub_wal error=\"%s\"", strerror(errno));
    close(fd);
}

/* One of the prepared transaction-control statements. */
static int ctl(sq_t *st, int which)
{
    return step_done(st, st->stmt[which], statements[which]);
}

static int write_job(sq_t *st, job_t *j)
{
    int rc = ctl(st, ST_SAVEPOINT);

    for (size_t i = 0; i < j->ev.n && rc == 0; i++)
        rc = write_event(st, &j->ev.v[i]);
    if (rc == 0)
        return ctl(st, ST_RELEASE);
    (void)ctl(st, ST_ROLLBACK_TO); /* @rc already records the failure */
    (void)ctl(st, ST_RELEASE);
    return rc;
}

/* Every job queued while the last transaction synced: one transaction, one fsync. */
static void write_jobs(sq_t *st, job_t *jobs)
{
    uint64_t t0 = uv_hrtime();
    int rc = ctl(st, ST_BEGIN);
    uint64_t events = 0;
    double secs;
    size_t b = 0;

    for (job_t *j = jobs; j != NULL; j = j->next) {
        j->status = rc < 0 ? rc : write_job(st, j);
        events += j->status == 0 ? j->ev.n : 0;
    }
    if (rc == 0)
        rc = ctl(st, ST_COMMIT);
    if (rc < 0) {
        rollback_open(st);
        scrub_failed_frames(st);
        for (job_t *j = jobs; j != NULL; j = j->next)
            j->status = CF_ESTORE;
        events = 0;
    }
    secs = (double)(uv_hrtime() - t0) / 1e9;
    while (b < CF_STORE_COMMIT_NBOUNDS && secs > cf_store_commit_bounds[b])
        b++;
    uv_mutex_lock(&st->mu);
    st->stats.commits++;
    st->stats.events += events;
    st->stats.commit_buckets[b]++;
    st->stats.commit_seconds += secs;
    uv_mutex_unlock(&st->mu);
}

/* SQLite's wal hook: how long the WAL is after each commit (writer thread). */
static int on_wal(void *arg, sqlite3 *db, const char *name, int frames)
{
    (void)db;
    (void)name;
    ((sq_t *)arg)->wal_frames = frames;
    return SQLITE_OK;
}

/*
 * Checkpoints run here, after the batch that filled the WAL was acknowledged,
 * instead of inside its COMMIT (SQLite's autocheckpoint, which the wal hook
 * replaces): copying the WAL into the database and syncing it then delays
 * only the jobs queued meanwhile, which share the next commit anyway. A
 * failure loses nothing (the WAL keeps every committed frame) and is retried
 * after the next commit.
 */
static void checkpoint(sq_t *st)
{
    if (st->wal_frames < CHECKPOINT_FRAMES)
        return;
    if (sqlite3_wal_checkpoint_v2(st->db, "main", SQLITE_CHECKPOINT_PASSIVE, NULL, NULL) != SQLITE_OK)
        CF_LOG(CF_LOG_WARN, "event=store_error op=checkpoint error=\"%s\"", sqlite3_errmsg(st->db));
    st->wal_frames = 0;
}

static void writer_main(void *arg)
{
    sq_t *st = arg;

    for (;;) {
        job_t *jobs;
        int stopping;

        uv_mutex_lock(&st->mu);
        while (st->pending.head == NULL && !st->stopping)
            uv_cond_wait(&st->cv, &st->mu);
        jobs = list_take(&st->pending);
        stopping = st->stopping;
        uv_mutex_unlock(&st->mu);

        if (jobs == NULL && stopping)
            return;
        write_jobs(st, jobs);
        uv_mutex_lock(&st->mu);
        while (jobs != NULL) {
            job_t *next = jobs->next;
            list_push(&st->done, jobs);
            jobs = next;
        }
        uv_mutex_unlock(&st->mu);
        uv_async_send(&st->async);
        checkpoint(st);
    }
}

/* ------------------------------------------------------------------ */
/* Loop thread                                                         */
/* ------------------------------------------------------------------ */

/*
 * Events whose answers one turn of the loop delivers. Each answer may apply
 * its batch to the index (commit.c), so a burst of acknowledgements (one
 * group commit of many jobs) is spread over turns; at least one job goes
 * per turn, and the order is kept.
 */
#define DELIVER_EVENTS 500

/* Answer done jobs worth up to @budget events; 1 when some are left. */
static int deliver_some(sq_t *st, size_t budget)
{
    job_t *j, *rest = NULL;
    size_t n = 0;

    uv_mutex_lock(&st->mu);
    j = list_take(&st->done);
    uv_mutex_unlock(&st->mu);
    while (j != NULL) {
        job_t *next = j->next;
        size_t cost = j->ev.n > 0 ? j->ev.n : 1;
        if (n > 0 && cost > budget - n) {
            rest = j;
            break;
        }
        n += cost;
        if (j->status < 0)
            st->stats.failures++;
        if (j->done != NULL)
            j->done(j->arg, j->status);
        cf_events_fini(&j->ev);
        free(j);
        j = next;
    }
    if (rest == NULL)
        return 0;
    uv_mutex_lock(&st->mu); /* back in front of what the writer finished meanwhile */
    {
        job_t *t = rest;
        while (t->next != NULL)
            t = t->next;
        t->next = st->done.head;
        if (st->done.head == NULL)
            st->done.tail = t;
        st->done.head = rest;
    }
    uv_mutex_unlock(&st->mu);
    return 1;
}

static void deliver(sq_t *st)
{
    while (deliver_some(st, SIZE_MAX))
        ;
}

static void on_async(uv_async_t *a)
{
    if (deliver_some(a->data, DELIVER_EVENTS))
        uv_async_send(a); /* the rest on the next turn */
}

static void sq_submit(cf_store_t *base, cf_events_t *ev, cf_store_done_fn done, void *arg)
{
    sq_t *st = (sq_t *)base;
    job_t *j = calloc(1, sizeof *j);

    if (j == NULL) {
        /* Out of memory: fail the batch rather than ack something not durable. */
        cf_events_fini(ev);
        if (done != NULL)
            done(arg, CF_ENOMEM);
        return;
    }
    j->ev = *ev;
    *ev = (cf_events_t)CF_EVENTS_INIT;
    j->done = done;
    j->arg = arg;
    st->stats.batches++;
    uv_mutex_lock(&st->mu);
    list_push(&st->pending, j);
    uv_cond_signal(&st->cv);
    uv_mutex_unlock(&st->mu);
}

static cf_store_stats_t sq_stats_of(const sq_t *st)
{
    cf_store_stats_t s;
    sq_t *m = (sq_t *)st; /* the mutex is not part of the logical state */

    /* The whole copy under the lock: the writer updates its counters under it
     * (copying first and patching after read them torn; ThreadSanitizer saw it). */
    uv_mutex_lock(&m->mu);
    s = st->stats;
    uv_mutex_unlock(&m->mu);
    return s;
}

static int user_version(sq_t *st, int *v)
{
    sqlite3_stmt *q = NULL;

    if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &q, NULL) != SQLITE_OK ||
        sqlite3_step(q) != SQLITE_ROW) {
        sqlite3_finalize(q);
        return db_fail(st, "user_version");
    }
    *v = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    return 0;
}

/* Create the schema, or bring an older one up to date, in one transaction. */
static int migrate(sq_t *st)
{
    int v = 0, rc = user_version(st, &v);

    if (rc < 0)
        return rc;
    if (v > SCHEMA_VERSION) {
        CF_LOG(CF_LOG_ERROR, "event=store_error op=migrate error=\"database schema %d is newer than this curfew (%d)\"", v, SCHEMA_VERSION);
        return CF_ESTORE;
    }
    if (v == SCHEMA_VERSION)
        return 0;
    rc = exec(st, "BEGIN IMMEDIATE");
    if (rc == 0)
        rc = exec(st, v == 0 ? schema : v == 1 ? migrate_v1_to_v2 : migrate_v2_to_v3);
    if (rc == 0 && v == 1)
        rc = exec(st, migrate_v2_to_v3); /* a fresh schema already has every table */
    if (rc == 0)
        rc = exec(st, cf_sq_apikey_schema);
    if (rc == 0 && v > 0 && v < 5)
        rc = exec(st, migrate_to_v5); /* a fresh schema has the column already */
    if (rc == 0)
        rc = exec(st, "PRAGMA user_version = " CF_STR(SCHEMA_VERSION));
    if (rc == 0)
        rc = exec(st, "COMMIT");
    if (rc < 0)
        rollback_open(st); /* the error is already logged */
    return rc;
}

/*
 * The write path must work before the server says it is ready: a read-only
 * database file opens (SQLite falls back to reading) and loads, and every
 * change would then fail. One real commit proves the WAL can be written and
 * synced; user_version is rewritten with its own value.
 */
static int write_probe(sq_t *st)
{
    if (sqlite3_db_readonly(st->db, "main") == 1) {
        CF_LOG(CF_LOG_ERROR, "event=store_error op=open error=\"the database can only be read\"");
        return CF_ESTORE;
    }
    if (exec(st, "BEGIN IMMEDIATE") < 0)
        return CF_ESTORE;
    if (exec(st, "PRAGMA user_version = " CF_STR(SCHEMA_VERSION)) < 0 || exec(st, "COMMIT") < 0) {
        rollback_open(st);
        return CF_ESTORE;
    }
    return 0;
}

/* Why @path cannot be opened, in words an operator can act on; NULL if unknown. */
static const char *open_hint(const char *path, char *dir, size_t cap, int sqlite_rc)
{
    char *slash;
    struct stat sb;

    snprintf(dir, cap, "%s", path);
    slash = strrchr(dir, '/');
    if (slash == NULL)
        snprintf(dir, cap, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    switch (sqlite_rc & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return CF_SQ_DAMAGED_HINT;
    default:
        break;
    }
    if (access(dir, W_OK) != 0 && (errno == EROFS || errno == EPERM || errno == EACCES))
        return "the data directory is read-only: curfew must create and write curfew.db-wal and "
               "curfew.db-shm beside curfew.db";
    if (stat(path, &sb) == 0 && access(path, W_OK) != 0)
        return "curfew.db is read-only (permissions, an immutable attribute or a read-only mount)";
    return NULL;
}

static void free_store(sq_t *st)
{
    (void)cf_sq_check_wait(&st->check, &st->hinted);
    for (int i = 0; i < ST__COUNT; i++)
        sqlite3_finalize(st->stmt[i]);
    sqlite3_close(st->db);
    uv_mutex_destroy(&st->mu);
    uv_cond_destroy(&st->cv);
    free(st);
}

static void on_async_closed(uv_handle_t *h)
{
    free_store(h->data);
}

static const cf_store_ops_t sq_ops;

int cf_store_open_sqlite(const char *path, uv_loop_t *loop, cf_store_t **out)
{
    sq_t *st = calloc(1, sizeof *st);
    int rc = CF_ESTORE;

    struct stat sb;
    char dir[4096];
    const char *hint;

    *out = NULL;
    if (st == NULL)
        return CF_ENOMEM;
    st->loop = loop;
    uv_mutex_init(&st->mu);
    uv_cond_init(&st->cv);
    /* SQLite takes an empty file for a new database. curfew never leaves one
     * (the first start writes the header at once), so an empty curfew.db was
     * truncated: starting afresh would silently forget every session. */
    if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size == 0) {
        CF_LOG(CF_LOG_ERROR,
               "event=store_error op=open path=%s error=\"the database file is empty (0 bytes): it was "
               "truncated and its sessions are lost; restore it from a backup, or remove it (with "
               "curfew.db-wal and curfew.db-shm) to start with no sessions; see 'Recovering the "
               "database' in docs/operations.md\"",
               path);
        st->hinted = 1;
        goto fail;
    }
    if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        CF_LOG(CF_LOG_ERROR, "event=store_error op=open path=%s error=\"%s\"", path,
               st->db ? sqlite3_errmsg(st->db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(st->db, 5000);
    sqlite3_extended_result_codes(st->db, 1);
    /* WAL + FULL: every COMMIT fsyncs the WAL, which is what makes an ack durable. */
    /* The hook replaces autocheckpoint: the writer checkpoints after the ack.
     * A cache that holds the hot pages spares the writer re-reading them. */
    sqlite3_wal_hook(st->db, on_wal, st);
    if (exec(st, "PRAGMA journal_mode=WAL") < 0 || exec(st, "PRAGMA synchronous=FULL") < 0 ||
        exec(st, "PRAGMA cache_size=-" CF_STR(CACHE_KIB)) < 0 ||
        cf_sq_check_start(&st->check, path) < 0 || migrate(st) < 0 || write_probe(st) < 0)
        goto fail;
    for (int i = 0; i < ST__COUNT; i++) {
        if (sqlite3_prepare_v3(st->db, statements[i], -1, SQLITE_PREPARE_PERSISTENT, &st->stmt[i],
                               NULL) != SQLITE_OK) {
            db_fail(st, "prepare");
            goto fail;
        }
    }
    rc = uv_async_init(loop, &st->async, on_async);
    if (rc < 0) {
        rc = CF_EIO;
        goto fail;
    }
    st->async.data = st;
    st->base.ops = &sq_ops;
    *out = &st->base;
    return 0;
fail:
    (void)cf_sq_check_wait(&st->check, &st->hinted); /* its finding first, if any */
    hint = open_hint(path, dir, sizeof dir, st->db != NULL ? sqlite3_extended_errcode(st->db) : 0);
    if (hint != NULL && !st->hinted)
        CF_LOG(CF_LOG_ERROR, "event=store_error op=open path=%s error=\"%s\"", path, hint);
    free_store(st);
    return rc;
}

static int start_writer(sq_t *st)
{
    if (st->thread_started)
        return 0;
    if (uv_thread_create(&st->thread, writer_main, st) != 0)
        return CF_EIO;
    st->thread_started = 1;
    return 0;
}

static int sq_load(cf_store_t *base, const cf_store_loader_t *ld)
{
    sq_t *st = (sq_t *)base;
    int rc = cf_sq_load(st->db, ld), checked = cf_sq_check_wait(&st->check, &st->hinted);

    /* The scan filled the page cache with every page of the file (16 MiB
     * at a million sessions, held for good): the writer's hot pages are
     * few and come back on their first use. */
    (void)sqlite3_db_release_memory(st->db);

    /* A damaged file stops the start even when the scan got through it. */
    if (rc == 0 && checked < 0)
        rc = checked;
    return rc < 0 ? rc : start_writer(st);
}

static void sq_close(cf_store_t *base, cf_store_stats_t *final)
{
    sq_t *st = (sq_t *)base;

    if (st->thread_started) {
        uv_mutex_lock(&st->mu);
        st->stopping = 1;
        uv_cond_signal(&st->cv);
        uv_mutex_unlock(&st->mu);
        uv_thread_join(&st->thread);
    }
    deliver(st);
    if (final != NULL)
        *final = sq_stats_of(st);
    uv_close((uv_handle_t *)&st->async, on_async_closed);
}

static int sq_load_apikeys(cf_store_t *base, cf_store_apikey_fn fn, void *ctx)
{
    const char *path = sqlite3_db_filename(((sq_t *)base)->db, "main");

    return cf_sq_load_apikeys(path, fn, ctx);
}

static cf_store_stats_t sq_stats(const cf_store_t *base)
{
    return sq_stats_of((const sq_t *)base);
}

static const cf_store_ops_t sq_ops = {
    .name = "sqlite",
    .load = sq_load,
    .submit = sq_submit,
    .stats = sq_stats,
    .close = sq_close,
    .load_apikeys = sq_load_apikeys,
};
