/* SPDX-License-Identifier: MIT
 *
 * Reloading the configuration on SIGHUP (reload.c): all or nothing, with
 * restart-only options refused by name. Loop thread only.
 */
#ifndef CF_APP_RELOAD_H
#define CF_APP_RELOAD_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

struct cf_app;

/**
 * Read the configuration again for a reload (main.c: the file and the
 * command-line overrides, validated). Fills @out (the caller then owns it)
 * and returns 0, or a negative CF_E* with "FILE:LINE: what is wrong" in @err.
 */
typedef int (*cf_app_config_fn)(void *arg, cf_config_t *out, char *err, size_t errlen);

/** Most swapped-out configurations kept for pending requests. */
#define CF_RELOAD_RETIRED_MAX 16

/* ---- reloading the configuration (reload.c) ----------------------------- */

/**
 * Allow reloads: @read builds the new configuration (called on the loop
 * thread at each SIGHUP). Returns 0 or CF_ENOMEM. Call before cf_app_start().
 */
int cf_app_reload_init(struct cf_app *app, cf_app_config_fn read, void *arg);
/** Free the reload state and every retired configuration; after the loop has stopped. */
void cf_app_reload_fini(struct cf_app *app);
/**
 * Read, validate and swap in the configuration (SIGHUP). All or nothing:
 * on any refusal one reload_refused line is logged and the running
 * configuration stays. Returns 0; the reader's error; CF_ECONFIG when a
 * restart-only option changed; CF_EIO while too many old configurations are
 * still in use; CF_ENOTSUP without a reader. The refusal's text (for a
 * reload refused, the reader's "FILE:LINE: what is wrong"), or "" when it was
 * applied, goes to @why (@cap bytes) unless @why is NULL. Loop thread.
 */
int cf_app_reload_config(struct cf_app *app, char *why, size_t cap);

/**
 * What SIGHUP does (app.c): reopen the audit log, reload the configuration
 * (cf_app_reload_config(), same @why), drop cached client CAs and reload the
 * TLS certificate. Returns cf_app_reload_config()'s result. Loop thread.
 */
int cf_app_hup(struct cf_app *app, char *why, size_t cap);
/** Free retired configurations if no request is in flight (timers call it). */
void cf_app_reload_drain(struct cf_app *app);
/** Reloads applied since start. */
uint64_t cf_app_reload_generation(const struct cf_app *app);

#endif
