/* SPDX-License-Identifier: MIT
 *
 * The SQLite store's read side, private to src/store/sqlite.c: the start-up
 * integrity check and the load scans, which run once, on the loop thread,
 * before the writer thread exists.
 */
#ifndef CF_STORE_SQLITE_READ_H
#define CF_STORE_SQLITE_READ_H

#include <sqlite3.h>
#include <uv.h>

#include "store/store.h"

#define CF_SQ_DAMAGED_HINT                                                                     \
    "the database file is damaged; curfew will not serve part of it; see 'Recovering the "      \
    "database' in docs/operations.md"

/** Log @db's last error as the failure of operation @what; returns CF_ESTORE. */
int cf_sq_fail(sqlite3 *db, const char *what);

/**
 * Check every page and record of @db (PRAGMA quick_check). Returns 0, or
 * CF_ESTORE; *@hinted is set when the damage and what to do were logged.
 */
int cf_sq_integrity(sqlite3 *db, const char *path, int *hinted);

/*
 * The integrity check on its own connection and thread, so that it runs
 * while the loop thread loads (a million sessions: 0.7 s of check beside
 * 2-4 s of load). The start waits for its verdict before serving anything.
 */
typedef struct {
    uv_thread_t thread;
    char path[4096];
    int started;
    int rc, hinted; /* the check's result, read after the join */
} cf_sq_check_t;

/** Start checking @path in the background. 0, or CF_E* when no thread could start. */
int cf_sq_check_start(cf_sq_check_t *c, const char *path);

/** Wait for the check; its result (0 or CF_ESTORE), *@hinted as cf_sq_integrity. No-op when not started. */
int cf_sq_check_wait(cf_sq_check_t *c, int *hinted);

/** Read every table of @db into @ld's receivers, one prepared statement per table. */
int cf_sq_load(sqlite3 *db, const cf_store_loader_t *ld);

/* ---- API keys (sqlite_apikey.c) ---- */

/** The apikeys table (schema version 4) and the upsert every key event writes. */
extern const char cf_sq_apikey_schema[];
extern const char cf_sq_apikey_upsert[];

/** Bind @k to the upsert @q; @nets (@cap bytes) holds the networks' text until it is stepped. */
int cf_sq_apikey_bind(sqlite3_stmt *q, const cf_apikey_t *k, char *nets, size_t cap);

/** The networks of @k as "CIDR,CIDR" into @out. */
void cf_sq_apikey_nets(const cf_apikey_t *k, char *out, size_t cap);

/** Read every key of the database at @path (its own read-only connection) into @fn. */
int cf_sq_load_apikeys(const char *path, cf_store_apikey_fn fn, void *ctx);

#endif
