/* SPDX-License-Identifier: MIT
 *
 * API keys in the SQLite store (private to src/store/sqlite.c): the table,
 * the one upsert every key event writes (a snapshot, merged the way memory
 * merges it: an end is never undone, uses and counts only move forward, an
 * overlap only shortens), and the start-up scan. Only the SHA-256 of a key
 * string is ever written; the secret itself never reaches the store.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "store/sqlite_read.h"
#include "util/log.h"

const char cf_sq_apikey_schema[] =
    "CREATE TABLE IF NOT EXISTS apikeys("
    " id TEXT PRIMARY KEY, hash BLOB NOT NULL, sub TEXT NOT NULL, name TEXT NOT NULL,"
    " client_id TEXT NOT NULL, roles TEXT NOT NULL, scope TEXT NOT NULL, networks TEXT NOT NULL,"
    " created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, idle_expiry INTEGER NOT NULL,"
    " last_used INTEGER NOT NULL, overlap_until INTEGER NOT NULL, successor TEXT NOT NULL,"
    " predecessor TEXT NOT NULL, ended_at INTEGER NOT NULL, end_reason TEXT NOT NULL,"
    " warned_at INTEGER NOT NULL, quota_day INTEGER NOT NULL, quota_month INTEGER NOT NULL,"
    " day_start INTEGER NOT NULL, day_used INTEGER NOT NULL, month_start INTEGER NOT NULL,"
    " month_used INTEGER NOT NULL) WITHOUT ROWID;";

/* Right-hand sides read the row as it was (SQLite's UPDATE semantics). */
const char cf_sq_apikey_upsert[] =
    "INSERT INTO apikeys(id, hash, sub, name, client_id, roles, scope, networks, created_at,"
    " expires_at, idle_expiry, last_used, overlap_until, successor, predecessor, ended_at,"
    " end_reason, warned_at, quota_day, quota_month, day_start, day_used, month_start, month_used)"
    " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,?22,?23,?24)"
    " ON CONFLICT(id) DO UPDATE SET last_used = max(last_used, excluded.last_used),"
    " overlap_until = CASE WHEN overlap_until = 0 THEN excluded.overlap_until"
    "   WHEN excluded.overlap_until = 0 THEN overlap_until"
    "   ELSE min(overlap_until, excluded.overlap_until) END,"
    " successor = CASE WHEN excluded.successor <> '' THEN excluded.successor ELSE successor END,"
    " ended_at = CASE WHEN end_reason = '' THEN excluded.ended_at ELSE ended_at END,"
    " end_reason = CASE WHEN end_reason = '' THEN excluded.end_reason ELSE end_reason END,"
    " warned_at = max(warned_at, excluded.warned_at),"
    " day_used = CASE WHEN excluded.day_start > day_start OR (excluded.day_start = day_start"
    "   AND excluded.day_used > day_used) THEN excluded.day_used ELSE day_used END,"
    " day_start = max(day_start, excluded.day_start),"
    " month_used = CASE WHEN excluded.month_start > month_start OR (excluded.month_start ="
    "   month_start AND excluded.month_used > month_used) THEN excluded.month_used"
    "   ELSE month_used END,"
    " month_start = max(month_start, excluded.month_start)";

void cf_sq_apikey_nets(const cf_apikey_t *k, char *out, size_t cap)
{
    cf_apikey_nets_format(k, out, cap);
}

int cf_sq_apikey_bind(sqlite3_stmt *q, const cf_apikey_t *k, char *nets, size_t cap)
{
    cf_sq_apikey_nets(k, nets, cap);
    sqlite3_bind_text(q, 1, k->id, -1, SQLITE_STATIC);
    sqlite3_bind_blob(q, 2, k->hash, sizeof k->hash, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, k->sub, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 4, k->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 5, k->client_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 6, k->roles, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 7, k->scope, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 8, nets, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 9, k->created_at);
    sqlite3_bind_int64(q, 10, k->expires_at);
    sqlite3_bind_int64(q, 11, k->idle_expiry);
    sqlite3_bind_int64(q, 12, k->last_used);
    sqlite3_bind_int64(q, 13, k->overlap_until);
    sqlite3_bind_text(q, 14, k->successor, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 15, k->predecessor, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 16, k->ended_at);
    sqlite3_bind_text(q, 17, k->end == CF_APIKEY_END_NONE ? "" : cf_apikey_end_name(k->end), -1,
                      SQLITE_STATIC);
    sqlite3_bind_int64(q, 18, k->warned_at);
    sqlite3_bind_int64(q, 19, k->quota_day);
    sqlite3_bind_int64(q, 20, k->quota_month);
    sqlite3_bind_int64(q, 21, k->usage.day_start);
    sqlite3_bind_int64(q, 22, k->usage.day_used);
    sqlite3_bind_int64(q, 23, k->usage.month_start);
    sqlite3_bind_int64(q, 24, k->usage.month_used);
    return 0;
}

static const char *col(sqlite3_stmt *q, int i)
{
    const char *s = (const char *)sqlite3_column_text(q, i);
    return s != NULL ? s : "";
}

static cf_apikey_t *row(sqlite3_stmt *q)
{
    cf_apikey_t *k;
    const char *id = col(q, 0), *end;

    if (strlen(id) != CF_APIKEY_ID_LEN || sqlite3_column_bytes(q, 1) != 32)
        return NULL;
    k = cf_apikey_new(id, sqlite3_column_blob(q, 1), col(q, 2), col(q, 3), col(q, 4), col(q, 5),
                      col(q, 6));
    if (k == NULL)
        return NULL;
    if (cf_apikey_nets_parse(k, col(q, 7)) < 0) {
        cf_apikey_free(k);
        return NULL;
    }
    k->created_at = sqlite3_column_int64(q, 8);
    k->expires_at = sqlite3_column_int64(q, 9);
    k->idle_expiry = sqlite3_column_int64(q, 10);
    k->last_used = sqlite3_column_int64(q, 11);
    k->overlap_until = sqlite3_column_int64(q, 12);
    snprintf(k->successor, sizeof k->successor, "%s", col(q, 13));
    snprintf(k->predecessor, sizeof k->predecessor, "%s", col(q, 14));
    k->ended_at = sqlite3_column_int64(q, 15);
    end = col(q, 16);
    k->end = end[0] ? cf_apikey_end_from_name(end) : CF_APIKEY_END_NONE;
    if (k->end == CF_APIKEY_END__COUNT)
        k->end = CF_APIKEY_END_REVOKED; /* unknown: fail towards expiry */
    k->warned_at = sqlite3_column_int64(q, 17);
    k->quota_day = sqlite3_column_int64(q, 18);
    k->quota_month = sqlite3_column_int64(q, 19);
    k->usage.day_start = sqlite3_column_int64(q, 20);
    k->usage.day_used = sqlite3_column_int64(q, 21);
    k->usage.month_start = sqlite3_column_int64(q, 22);
    k->usage.month_used = sqlite3_column_int64(q, 23);
    return k;
}

/*
 * Read every key on a connection of its own: WAL lets it read beside the
 * writer thread, which owns the store's connection once the store is loaded.
 */
int cf_sq_load_apikeys(const char *path, cf_store_apikey_fn fn, void *ctx)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    int rc = 0, step = SQLITE_DONE;

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        rc = cf_sq_fail(db, "load_apikeys");
        goto done;
    }
    sqlite3_busy_timeout(db, 5000);
    if (sqlite3_prepare_v2(db,
                           "SELECT id, hash, sub, name, client_id, roles, scope, networks,"
                           " created_at, expires_at, idle_expiry, last_used, overlap_until,"
                           " successor, predecessor, ended_at, end_reason, warned_at, quota_day,"
                           " quota_month, day_start, day_used, month_start, month_used"
                           " FROM apikeys",
                           -1, &q, NULL) != SQLITE_OK) {
        rc = cf_sq_fail(db, "load_apikeys");
        goto done;
    }
    while (rc == 0 && (step = sqlite3_step(q)) == SQLITE_ROW) {
        cf_apikey_t *k = row(q);
        if (k == NULL) {
            CF_LOG(CF_LOG_WARN, "event=store_skip_row table=apikeys why=bad_row");
            continue;
        }
        rc = fn(ctx, k);
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = cf_sq_fail(db, "load_apikeys");
done:
    sqlite3_finalize(q);
    sqlite3_close(db);
    return rc;
}
