/* SPDX-License-Identifier: MIT
 *
 * Access tokens: their claims, their signature, and the token endpoint's
 * answer. The Ed25519 signature is the largest single cost of a refresh on
 * the loop thread (~30 us of ~95 us, docs/performance.md), and it depends
 * on nothing the store decides, so cf_app_issue_access_async() computes it
 * on a signer thread while the rotation's commit is on its way to the
 * disk. Everything that can fail on the inputs (claims, sizes) is checked on
 * the loop before the commit is submitted, exactly as cf_app_issue_access()
 * checks it; the signer thread only signs. The token cache is touched on the loop.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "app/app.h"
#include "app/sign.h"
#include "core/error.h"
#include "core/jsonw.h"
#include "core/token.h"
#include "util/random.h"

/* What the verification cache needs of a token once it is signed. */
typedef struct {
    char sid[CF_SID_LEN + 1];
    int64_t exp, iat;
    cf_cnf_t cnf;
} issued_t;

/* The claims of @s's next access token, encoded and ready for the signature. */
static int access_prepare(cf_app_t *app, const cf_session_t *s, cf_time_t now,
                          cf_jws_unsigned_t *u, issued_t *out)
{
    char jti[32];
    const char *roles[64];
    size_t nroles = 0, n = strlen(cf_session_roles(s));
    char rolebuf[512];
    char *payload = NULL;
    int rc;

    cf_random_b64url(16, jti);
    /* The first 511 bytes of the comma-separated roles, as before. */
    n = n < sizeof rolebuf - 1 ? n : sizeof rolebuf - 1;
    memcpy(rolebuf, cf_session_roles(s), n);
    rolebuf[n] = '\0';
    for (char *p = rolebuf, *save = NULL, *r; (r = strtok_r(p, ",", &save)) != NULL; p = NULL)
        if (nroles < 64)
            roles[nroles++] = r;
    out->cnf = cf_session_cnf(s);
    cf_access_token_spec_t spec = {
        .issuer = app->cfg.issuer,
        .audience = app->cfg.audience,
        .sub = s->sub,
        .sid = s->id,
        .client_id = cf_session_client_id(s),
        .jti = jti,
        .scope = cf_session_scope(s),
        .roles = roles,
        .nroles = nroles,
        .iat = cf_time_to_sec(now),
        .exp = cf_session_access_exp(s, now),
        .auth_time = cf_time_to_sec(cf_session_auth_time(s)),
        .cnf = &out->cnf, /* a bound session's tokens are bound to the same key or certificate */
    };
    rc = cf_token_access_payload(&spec, &payload);
    if (rc < 0)
        return rc;
    rc = cf_jws_sign_prepare(cf_app_signing_key(app), "at+jwt", payload, strlen(payload), u);
    free(payload);
    if (rc < 0)
        return rc;
    memcpy(out->sid, s->id, sizeof out->sid);
    out->exp = spec.exp;
    out->iat = spec.iat;
    return 0;
}

/* Pre-verify our own token so checks on this node never pay for a signature verify. */
static void cache_issued(cf_app_t *app, const char *tok, const issued_t *t)
{
    /* Without the cache entry the first check verifies the signature: no harm. */
    (void)cf_tokcache_put(&app->token_cache, tok, strlen(tok), t->sid, t->exp, t->iat, 0, &t->cnf);
}

int cf_app_issue_access(cf_app_t *app, const cf_session_t *s, cf_time_t now, char **out,
                        int64_t *exp)
{
    cf_jws_unsigned_t u;
    issued_t t;
    int rc;

    *out = NULL;
    rc = access_prepare(app, s, now, &u, &t);
    if (rc < 0)
        return rc;
    rc = cf_jws_sign_finish(&u, out);
    cf_jws_unsigned_fini(&u);
    if (rc < 0)
        return rc;
    *exp = t.exp;
    cache_issued(app, *out, &t);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Signed on the signer thread                                         */
/* ------------------------------------------------------------------ */

/*
 * The signer: one thread of its own, not libuv's pool, which also runs the
 * PBKDF2 of client secrets (tens of ms each): a few wrong secrets in flight
 * must not hold up every refresh's answer. The loop appends jobs to a list
 * and signals; the thread takes every job appended so far, signs them, and
 * hands them back through one uv_async_t, so under load one wake-up on each
 * side serves several rotations (each uv_queue_work woke a pool thread
 * through a futex: 16 % of the loop's samples). One thread signs ~30k
 * tokens/s, three times the rotations one node's disk commits.
 */
typedef struct sign_job sign_job_t;
struct sign_job {
    sign_job_t *next;
    cf_app_t *app;
    cf_jws_unsigned_t u;
    issued_t t;
    char *tok; /* the signed token, set by the signer */
    int rc;
    cf_signed_fn done;
    void *arg;
};

struct cf_signer {
    uv_mutex_t lock;  /* guards todo, signed and stop */
    uv_cond_t wake;
    sign_job_t *todo; /* newest first */
    sign_job_t *signed_jobs; /* newest first, for the loop */
    int stop;
    uv_thread_t thread;
    uv_async_t async; /* the loop's end: signed jobs to answer */
    int running;      /* the thread and the async handle exist */
};

/* On the loop: one signed (or failed) job reaches its caller. */
static void job_done(sign_job_t *j)
{
    /* The signer could not sign (out of memory there), or never ran: sign on
     * the loop, as before, rather than fail a rotation already on its way to
     * the disk. */
    if (j->rc < 0 || j->tok == NULL)
        j->rc = cf_jws_sign_finish(&j->u, &j->tok);
    if (j->rc == 0)
        cache_issued(j->app, j->tok, &j->t);
    j->done(j->arg, j->rc, j->tok, j->t.exp);
    cf_jws_unsigned_fini(&j->u);
    free(j);
}

/* Answer a list kept newest first, oldest first. */
static void jobs_done(sign_job_t *jobs)
{
    sign_job_t *rev = NULL;

    while (jobs != NULL) {
        sign_job_t *next = jobs->next;
        jobs->next = rev;
        rev = jobs;
        jobs = next;
    }
    while (rev != NULL) {
        sign_job_t *next = rev->next;
        job_done(rev);
        rev = next;
    }
}

static void signer_main(void *arg)
{
    struct cf_signer *sg = arg;

    uv_mutex_lock(&sg->lock);
    for (;;) {
        sign_job_t *jobs, *last = NULL;

        while (sg->todo == NULL && !sg->stop)
            uv_cond_wait(&sg->wake, &sg->lock);
        if (sg->todo == NULL)
            break; /* stopping, and nothing is left */
        jobs = sg->todo;
        sg->todo = NULL;
        uv_mutex_unlock(&sg->lock);
        for (sign_job_t *j = jobs; j != NULL; j = j->next) {
            j->rc = cf_jws_sign_finish(&j->u, &j->tok); /* touches only j */
            last = j;
        }
        uv_mutex_lock(&sg->lock);
        last->next = sg->signed_jobs; /* both newest first: the new ones in front */
        sg->signed_jobs = jobs;
        uv_async_send(&sg->async);
    }
    uv_mutex_unlock(&sg->lock);
}

static sign_job_t *take_signed(struct cf_signer *sg)
{
    sign_job_t *jobs;

    uv_mutex_lock(&sg->lock);
    jobs = sg->signed_jobs;
    sg->signed_jobs = NULL;
    uv_mutex_unlock(&sg->lock);
    return jobs;
}

static void on_signed(uv_async_t *a)
{
    jobs_done(take_signed(a->data));
}

/* The signer, started on first use; NULL when it cannot run (then the loop signs). */
static struct cf_signer *signer(cf_app_t *app)
{
    struct cf_signer *sg = app->signer;

    if (sg != NULL)
        return sg->running && !sg->stop ? sg : NULL;
    if (app->stopping || (sg = calloc(1, sizeof *sg)) == NULL)
        return NULL;
    app->signer = sg;
    if (uv_mutex_init(&sg->lock) < 0)
        return NULL;
    if (uv_cond_init(&sg->wake) < 0) {
        uv_mutex_destroy(&sg->lock);
        return NULL;
    }
    sg->async.data = sg;
    if (uv_async_init(app->loop, &sg->async, on_signed) < 0)
        goto fail;
    uv_unref((uv_handle_t *)&sg->async); /* never what keeps the loop running */
    if (uv_thread_create(&sg->thread, signer_main, sg) < 0) {
        uv_close((uv_handle_t *)&sg->async, NULL); /* freed in cf_app_sign_fini, after the loop */
        goto fail;
    }
    sg->running = 1;
    return sg;
fail:
    uv_cond_destroy(&sg->wake);
    uv_mutex_destroy(&sg->lock);
    sg->stop = 1; /* never again: the loop signs */
    return NULL;
}

void cf_app_sign_stop(cf_app_t *app)
{
    struct cf_signer *sg = app->signer;

    if (sg == NULL || !sg->running)
        return;
    uv_mutex_lock(&sg->lock);
    sg->stop = 1;
    uv_cond_signal(&sg->wake);
    uv_mutex_unlock(&sg->lock);
    uv_thread_join(&sg->thread); /* it signs what was queued first */
    sg->running = 0;
    jobs_done(take_signed(sg));
    uv_close((uv_handle_t *)&sg->async, NULL);
    uv_cond_destroy(&sg->wake);
    uv_mutex_destroy(&sg->lock);
}

void cf_app_sign_fini(cf_app_t *app)
{
    /* After cf_app_sign_stop() and the loop's last turn: only memory is left. */
    free(app->signer);
    app->signer = NULL;
}

/* Hand @j to the signer; 0, or -1 when it must be signed here. */
static int submit(cf_app_t *app, sign_job_t *j)
{
    struct cf_signer *sg = signer(app);

    if (sg == NULL)
        return -1;
    uv_mutex_lock(&sg->lock);
    j->next = sg->todo;
    sg->todo = j;
    uv_cond_signal(&sg->wake); /* no system call while the signer is busy */
    uv_mutex_unlock(&sg->lock);
    return 0;
}

int cf_app_issue_access_async(cf_app_t *app, const cf_session_t *s, cf_time_t now,
                              cf_signed_fn done, void *arg)
{
    sign_job_t *j = calloc(1, sizeof *j);
    int rc;

    if (j == NULL)
        return CF_ENOMEM;
    rc = access_prepare(app, s, now, &j->u, &j->t);
    if (rc < 0) {
        free(j);
        return rc;
    }
    j->app = app;
    j->done = done;
    j->arg = arg;
    if (submit(app, j) < 0)
        job_done(j); /* no signer: sign here, now */
    return 0;
}

/* ------------------------------------------------------------------ */
/* The token endpoint's answer                                         */
/* ------------------------------------------------------------------ */

/*
 * Written by hand (core/jsonw.h), in the order and bytes jansson wrote it:
 * access_token, token_type, expires_in, refresh_token, session_id, scope
 * (when not empty), idle_expires_at, absolute_expires_at.
 */
int cf_app_token_body_text(const cf_session_t *s, const char *access, int64_t exp,
                           const char *refresh, cf_time_t now, char **out, size_t *len)
{
    int64_t expires_in = exp - cf_time_to_sec(now);
    size_t cap = 256 + 4 * 21 + cf_jsonw_str_max(strlen(access)) + cf_jsonw_str_max(strlen(s->id)) +
                 cf_jsonw_str_max(strlen(cf_session_scope(s))) +
                 (refresh != NULL ? cf_jsonw_str_max(strlen(refresh)) : 0);
    char *buf = malloc(cap);
    cf_jsonw_t w;

    *out = NULL;
    if (buf == NULL)
        return CF_ENOMEM;
    cf_jsonw_init(&w, buf, cap);
    cf_jsonw_raw(&w, "{\"access_token\":", 16);
    cf_jsonw_str(&w, access);
    /* RFC 9449 §5: a token bound to a DPoP key is of type DPoP. */
    if (cf_session_bound(s, CF_CNF_JKT))
        cf_jsonw_raw(&w, ",\"token_type\":\"DPoP\",\"expires_in\":", 34);
    else
        cf_jsonw_raw(&w, ",\"token_type\":\"Bearer\",\"expires_in\":", 36);
    cf_jsonw_int(&w, expires_in > 0 ? expires_in : 0);
    if (refresh != NULL) {
        cf_jsonw_raw(&w, ",\"refresh_token\":", 17);
        cf_jsonw_str(&w, refresh);
    }
    cf_jsonw_raw(&w, ",\"session_id\":", 14);
    cf_jsonw_str(&w, s->id);
    if (cf_session_scope(s)[0]) {
        cf_jsonw_raw(&w, ",\"scope\":", 9);
        cf_jsonw_str(&w, cf_session_scope(s));
    }
    cf_jsonw_raw(&w, ",\"idle_expires_at\":", 19);
    cf_jsonw_int(&w, cf_time_to_sec(cf_session_idle_deadline(s)));
    cf_jsonw_raw(&w, ",\"absolute_expires_at\":", 23);
    cf_jsonw_int(&w, cf_time_to_sec(cf_session_absolute_deadline(s)));
    cf_jsonw_raw(&w, "}", 1);
    if (w.err != 0) {
        OPENSSL_cleanse(buf, cap);
        free(buf);
        return w.err;
    }
    *out = buf;
    *len = w.len;
    return 0;
}

json_t *cf_app_token_body(const cf_session_t *s, const char *access, int64_t exp,
                          const char *refresh, cf_time_t now)
{
    char *text;
    size_t len;
    json_t *o;

    if (cf_app_token_body_text(s, access, exp, refresh, now, &text, &len) < 0)
        return NULL;
    o = json_loadb(text, len, 0, NULL); /* one writer for both forms of the answer */
    OPENSSL_cleanse(text, len);
    free(text);
    return o;
}
