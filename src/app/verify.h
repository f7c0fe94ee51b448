/* SPDX-License-Identifier: MIT
 *
 * The verifier pool of the application (verify.c), declared apart from
 * app.h only to keep that header readable; app.h includes it.
 */
#ifndef CF_APP_VERIFY_H
#define CF_APP_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/dpop.h"
#include "core/reason.h"

typedef struct cf_app cf_app_t;

/*
 * The verifier pool (verify.c): DPoP proof signatures checked on
 * verify_threads worker threads while the loop serves other requests. A job
 * carries everything the worker reads; the worker runs only the pure
 * cf_dpop_verify() (with a proof-key cache of its own); @done runs on the
 * loop thread, where the caller spends the jti and decides.
 */
#define CF_VERIFY_QUEUE_PER_THREAD 256 /* jobs waiting per worker; past it: inline */

typedef struct cf_verify_job cf_verify_job_t;
struct cf_verify_job {
    cf_dpop_input_t in;    /* set by the caller; its strings stay the caller's until @done */
    cf_reason_t refused;   /* out: what cf_dpop_verify() returned */
    const char *why;       /* out: its description (static) */
    cf_dpop_proof_t proof; /* out */
    void (*done)(cf_app_t *app, cf_verify_job_t *job); /* loop thread, exactly once; may free */
    cf_verify_job_t *cf__next;
};

/** What the pool has done since it started. */
typedef struct {
    size_t threads;       /* workers (0: every proof is verified inline) */
    uint64_t queued;      /* proofs handed to the workers */
    uint64_t inline_full; /* proofs verified inline because the queue was full */
    uint64_t on_loop;     /* of the queued ones, taken by the loop while it was idle */
} cf_verify_stats_t;

/** verify_threads resolved: auto (-1) is the number of CPUs this process may use. */
size_t cf_app_verify_threads(const cf_config_t *cfg);

/** Start the workers (none with verify_threads: 0). 0 or CF_ENOMEM. Called by cf_app_start. */
int cf_app_verify_start(cf_app_t *app);

/**
 * Queue @job (caller-owned until its done runs). Returns 0, or CF_ENOTSUP
 * (no pool, or stopping) or CF_ETOOBIG (the queue is full): then nothing
 * runs and the caller verifies inline. Loop thread.
 */
int cf_app_verify_submit(cf_app_t *app, cf_verify_job_t *job);

/** Let the workers finish what is queued, join them and run every done. Called by cf_app_stop. */
void cf_app_verify_stop(cf_app_t *app);

/** The pool's counters (zero, and the configured threads, when none runs). */
void cf_app_verify_stats(const cf_app_t *app, cf_verify_stats_t *out);

#endif
