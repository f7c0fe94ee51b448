/* SPDX-License-Identifier: MIT
 *
 * Static files built into the binary (the dashboard's page, script and
 * style). scripts/embed.py writes the tables at build time from the files in
 * the source tree, so a running server never reads them from disk and never
 * fetches anything: the dashboard works offline and cannot drift from the
 * binary that serves it.
 */
#ifndef CF_UTIL_ASSETS_H
#define CF_UTIL_ASSETS_H

#include <stddef.h>

/** One embedded file. Every field is static and read-only. */
typedef struct {
    const char *path;         /* relative to its table's base, e.g. "dashboard.js" */
    const char *content_type; /* from the extension, with charset for text */
    const unsigned char *data; /* @len bytes, followed by a NUL */
    size_t len;
} cf_asset_t;

/** The dashboard's files (src/obs/dashboard/), sorted by path. */
extern const cf_asset_t cf_assets_dashboard[];
extern const size_t cf_assets_dashboard_count;

/**
 * The asset of @table (@n entries) whose path is exactly [path, path+len);
 * NULL if none. No normalisation: "../x" or "a//b" simply match nothing.
 */
const cf_asset_t *cf_assets_find(const cf_asset_t *table, size_t n, const char *path, size_t len);

#endif
