/* SPDX-License-Identifier: MIT
 *
 * The SQLite store's read side, private to src/store/sqlite.c: the start-up
 * integrity check and the load scans, which run once, on the loop thread,
 * before the writer thread exists.
 */
#ifndef CF_STORE_SQLITE_READ_H
#define CF_STORE_SQLITE_READ_H

#include <sqlite3.h>

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

/** Read every table of @db into @ld's receivers, one prepared statement per table. */
int cf_sq_load(sqlite3 *db, const cf_store_loader_t *ld);

#endif
