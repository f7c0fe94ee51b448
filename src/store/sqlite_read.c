/* SPDX-License-Identifier: MIT
 *
 * The SQLite store's read side: the integrity check at start-up and the
 * scans that hand every row to the shell's loader. A scan that stops early
 * (a read error, a damaged page) stops the start: serving part of the store
 * would forget sessions and refresh tokens, so their reuse would go unnoticed.
 *
 * Start-up time grows with the store (a million sessions is the target), so
 * each table is one prepared statement stepped once per row, and the values
 * are read in place: the only allocations are the session the loader keeps.
 */
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "core/event.h"
#include "store/sqlite_read.h"
#include "util/log.h"

int cf_sq_fail(sqlite3 *db, const char *what)
{
    CF_LOG(CF_LOG_ERROR, "event=store_error op=%s error=\"%s\"", what, sqlite3_errmsg(db));
    return CF_ESTORE;
}

/*
 * PRAGMA quick_check: every page and every record's format, without
 * comparing indexes to their tables (integrity_check's slow part), i.e.
 * O(pages) and quick enough for every start. A damaged file must stop the
 * start: a scan that ends early at a bad page would serve part of the
 * sessions and forget refresh tokens, so their reuse would go unnoticed.
 */
int cf_sq_integrity(sqlite3 *db, const char *path, int *hinted)
{
    sqlite3_stmt *q = NULL;
    int rc, problems = 0;

    if (sqlite3_prepare_v2(db, "PRAGMA quick_check(5)", -1, &q, NULL) != SQLITE_OK)
        return cf_sq_fail(db, "integrity_check");
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *row = (const char *)sqlite3_column_text(q, 0);
        char line[512];

        if (row != NULL && strcmp(row, "ok") == 0)
            continue;
        /* At most five problems (the first say enough), each on one log line. */
        snprintf(line, sizeof line, "%s", row != NULL ? row : "?");
        for (char *c = line; *c != '\0'; c++)
            if (*c == '\n' || *c == '"' || (unsigned char)*c < 0x20)
                *c = *c == '"' ? '\'' : ' ';
        CF_LOG(CF_LOG_ERROR, "event=store_error op=integrity_check path=%s error=\"%s\"", path, line);
        problems++;
    }
    if (rc != SQLITE_DONE) {
        cf_sq_fail(db, "integrity_check");
        problems++;
    }
    sqlite3_finalize(q);
    if (problems == 0)
        return 0;
    CF_LOG(CF_LOG_ERROR, "event=store_error op=integrity_check path=%s error=\"%s\"", path,
           CF_SQ_DAMAGED_HINT);
    *hinted = 1;
    return CF_ESTORE;
}

static void check_main(void *arg)
{
    cf_sq_check_t *c = arg;
    sqlite3 *db = NULL;

    /* Read-write without create: quick_check writes nothing, but a WAL
     * reader needs the -shm file as a writer would. */
    if (sqlite3_open_v2(c->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        c->rc = cf_sq_fail(db, "integrity_check");
    } else {
        sqlite3_busy_timeout(db, 5000);
        c->rc = cf_sq_integrity(db, c->path, &c->hinted);
    }
    sqlite3_close(db);
}

int cf_sq_check_start(cf_sq_check_t *c, const char *path)
{
    memset(c, 0, sizeof *c);
    if (strlen(path) >= sizeof c->path)
        return CF_EINVAL;
    memcpy(c->path, path, strlen(path) + 1);
    if (uv_thread_create(&c->thread, check_main, c) != 0)
        return CF_EIO;
    c->started = 1;
    return 0;
}

int cf_sq_check_wait(cf_sq_check_t *c, int *hinted)
{
    if (!c->started)
        return 0;
    uv_thread_join(&c->thread);
    c->started = 0;
    if (c->hinted)
        *hinted = 1;
    return c->rc;
}

/* ---- one function per table: a row to the loader ---- */

static const char *text(sqlite3_stmt *q, int col)
{
    return (const char *)sqlite3_column_text(q, col);
}

/* Columns of the sessions scan, in the SELECT's order. */
enum {
    C_ID, C_SUB, C_CLIENT, C_SCOPE, C_ROLES, C_AUTH_TIME, C_CREATED, C_ACTIVITY, C_IDLE,
    C_ABSOLUTE, C_ACCESS_TTL, C_IDLE_DEADLINE, C_ABS_DEADLINE, C_ENDED_AT, C_END, C_GEN,
    C_ROTATED_AT, C_IP, C_DEVICE, C_CNF
};

static int session_row(sqlite3_stmt *q, const cf_store_loader_t *ld)
{
    const char *id = text(q, C_ID), *end;
    cf_session_t row, *s;
    cf_session_vals_t v;
    cf_profile_t prof;
    cf_session_ext_t ext;

    if (id == NULL || sqlite3_column_bytes(q, C_ID) != CF_SID_LEN || memchr(id, 0, CF_SID_LEN)) {
        CF_LOG(CF_LOG_WARN, "event=store_skip_row table=sessions why=bad_id");
        return 0;
    }
    /* The row's values in place (its strings are SQLite's until the next
     * step), then one copy in one allocation (cf_session_snapshot). */
    v = (cf_session_vals_t){.sub = text(q, C_SUB),
                            .client_id = text(q, C_CLIENT),
                            .scope = text(q, C_SCOPE),
                            .roles = text(q, C_ROLES),
                            .ip = text(q, C_IP), /* new sessions start unbound: "" */
                            .device = text(q, C_DEVICE),
                            .cnf = text(q, C_CNF),
                            .limits = {sqlite3_column_int64(q, C_IDLE),
                                       sqlite3_column_int64(q, C_ABSOLUTE),
                                       sqlite3_column_int64(q, C_ACCESS_TTL)},
                            .created_at = sqlite3_column_int64(q, C_CREATED),
                            .t = {[CF_T_AUTH] = sqlite3_column_int64(q, C_AUTH_TIME),
                                  [CF_T_ACTIVITY] = sqlite3_column_int64(q, C_ACTIVITY),
                                  [CF_T_IDLE] = sqlite3_column_int64(q, C_IDLE_DEADLINE),
                                  [CF_T_ABSOLUTE] = sqlite3_column_int64(q, C_ABS_DEADLINE),
                                  [CF_T_ENDED] = sqlite3_column_int64(q, C_ENDED_AT),
                                  [CF_T_ROTATED] = sqlite3_column_int64(q, C_ROTATED_AT)}};
    cf_session_init(&row, &prof, &ext, &v);
    memcpy(row.id, id, CF_SID_LEN);
    end = text(q, C_END);
    row.end = (end != NULL && end[0]) ? cf_end_from_name(end) : CF_END_NONE;
    if (row.end == CF_END__COUNT)
        row.end = CF_END_REVOKED; /* unknown reason: fail towards expiry */
    row.refresh_gen = (uint32_t)sqlite3_column_int64(q, C_GEN);
    if (cf_session_cnf(&row).kind == CF_CNF_NONE && cf_session_cnf_text(&row)[0] != '\0' &&
        row.end == CF_END_NONE) {
        CF_LOG(CF_LOG_WARN, "event=store_bad_row table=sessions why=bad_cnf");
        row.end = CF_END_REVOKED; /* a binding we cannot read: fail towards expiry */
        cf_session_set_time(&row, CF_T_ENDED, row.created_at);
    }
    s = cf_session_snapshot(&row);
    if (s == NULL)
        return CF_ENOMEM;
    return ld->session(ld->ctx, s);
}

static int token_row(sqlite3_stmt *q, const cf_store_loader_t *ld)
{
    const void *hash = sqlite3_column_blob(q, 0);
    const char *sid = text(q, 1);

    if (hash == NULL || sqlite3_column_bytes(q, 0) != 32 || sid == NULL)
        return 0;
    return ld->refresh_token(ld->ctx, hash, sid, (uint32_t)sqlite3_column_int64(q, 2));
}

static int not_before_row(sqlite3_stmt *q, const cf_store_loader_t *ld)
{
    const char *sub = text(q, 0);

    return ld->not_before(ld->ctx, (sub == NULL || sub[0] == '\0') ? NULL : sub,
                          sqlite3_column_int64(q, 1));
}

static int hold_row(sqlite3_stmt *q, const cf_store_loader_t *ld)
{
    const char *sub = text(q, 0);

    if (ld->alert_hold == NULL || sub == NULL || sub[0] == '\0')
        return 0;
    return ld->alert_hold(ld->ctx, sub, sqlite3_column_int64(q, 1));
}

/* Sessions first: a refresh token is indexed under the session it names. */
static const struct {
    const char *sql, *what;
    int (*row)(sqlite3_stmt *q, const cf_store_loader_t *ld);
} scans[] = {
    {"SELECT id, sub, client_id, scope, roles, auth_time, created_at, last_activity,"
     " idle_timeout, absolute_timeout, access_ttl, idle_deadline, absolute_deadline, ended_at,"
     " end_reason, refresh_gen, refresh_rotated_at, ip, device, cnf FROM sessions",
     "load_sessions", session_row},
    {"SELECT hash, sid, gen FROM refresh_tokens", "load_tokens", token_row},
    {"SELECT sub, at FROM not_before", "load_not_before", not_before_row},
    {"SELECT sub, until_ms FROM alert_hold", "load_alert_hold", hold_row},
};

/*
 * One table: every row to @row, until the last (SQLITE_DONE), a loader error
 * (returned as is) or a read error, which must stop the start rather than
 * leave part of the store unloaded.
 */
static int scan(sqlite3 *db, size_t i, const cf_store_loader_t *ld)
{
    sqlite3_stmt *q = NULL;
    int rc = 0, step = SQLITE_DONE;

    if (sqlite3_prepare_v2(db, scans[i].sql, -1, &q, NULL) != SQLITE_OK)
        return cf_sq_fail(db, scans[i].what);
    while (rc == 0 && (step = sqlite3_step(q)) == SQLITE_ROW)
        rc = scans[i].row(q, ld);
    if (rc == 0 && step != SQLITE_DONE) {
        rc = cf_sq_fail(db, scans[i].what);
        if ((sqlite3_extended_errcode(db) & 0xff) == SQLITE_CORRUPT)
            CF_LOG(CF_LOG_ERROR, "event=store_error op=%s error=\"%s\"", scans[i].what,
                   CF_SQ_DAMAGED_HINT);
    }
    sqlite3_finalize(q);
    return rc;
}

/*
 * How many sessions to expect, for sizing the index before the rows come.
 * sessions is a WITHOUT ROWID table, so there is no cheap bound (no rowid
 * span) and count(*) walks its b-tree: ~0.15 s at a million, less than the
 * growth it saves (1M-session start-up, same sitting: 3.2-3.8 s of CPU
 * with it, 4.4-4.9 s without; docs/performance.md).
 */
static size_t sessions_expected(sqlite3 *db)
{
    sqlite3_stmt *q = NULL;
    size_t n = 0;

    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM sessions", -1, &q,
                           NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW && sqlite3_column_int64(q, 0) > 0)
        n = (size_t)sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return n;
}

int cf_sq_load(sqlite3 *db, const cf_store_loader_t *ld)
{
    int rc = 0;

    if (ld->expect != NULL)
        ld->expect(ld->ctx, sessions_expected(db));

    for (size_t i = 0; i < sizeof scans / sizeof scans[0] && rc == 0; i++)
        rc = scan(db, i, ld);
    return rc;
}
