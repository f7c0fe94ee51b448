/* SPDX-License-Identifier: MIT
 *
 * The application's lifecycle: the data dir and admin key, start-up in
 * order (clocks, index, guard, audit, alerts, keys, store, load), the
 * timer that flushes activity, the signals, and shutdown. Session
 * operations are in sessions.c, loading in load.c, the purge sweep in
 * purge.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <http_parser.h>

#include <openssl/crypto.h>

#include "app/app.h"
#include "app/sign.h"
#include "app/reload.h"
#include "http/server.h"
#include "app/cluster.h"
#include "core/b64url.h"
#include "core/digest.h"
#include "core/dpop.h"
#include "core/error.h"
#include "core/token.h"
#include "util/file.h"
#include "util/log.h"
#include "util/random.h"

/* dpop.replay_cache's maximum: the table a span wider than the window scales to stops there. */
#define DPOP_CACHE_CAP 10000000u

static int make_dir(const char *path)
{
    int rc = cf_file_mkdirs(path);

    if (rc < 0)
        CF_LOG(CF_LOG_ERROR, "event=startup_error what=mkdir path=%s error=\"%s\"", path,
               rc == CF_EIO ? strerror(errno) : "path empty or too long");
    return rc < 0 ? CF_EIO : 0;
}

/* Write a new secret file (mode 0600) atomically and durably. */
static int write_secret_file(const char *dir, const char *path, const char *data, size_t len)
{
    int rc = cf_file_replace(dir, path, data, len);

    if (rc < 0)
        CF_LOG(CF_LOG_ERROR, "event=startup_error what=write path=%s error=\"%s\"", path,
               rc == CF_EIO ? strerror(errno) : "path too long");
    return rc;
}

static int load_admin_key(cf_app_t *app)
{
    const char *env = getenv("CURFEW_ADMIN_KEY");
    char path[600], hex[80], key[64], *text;
    size_t len;
    int rc;

    if (env != NULL && env[0] != '\0') {
        cf_sha256(env, strlen(env), app->admin_key_hash);
        return 0;
    }
    snprintf(path, sizeof path, "%s/admin-key.sha256", app->cfg.data_dir);
    rc = cf_file_read_all(path, sizeof hex - 1, &text, &len);
    if (rc == 0) {
        while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' '))
            len--;
        rc = cf_hex_decode(text, len, app->admin_key_hash, 32);
        free(text);
        if (rc < 0)
            goto bad;
        return 0;
    }
    if (rc != CF_ENOENT)
        goto bad;
    /* First start without a configured key: make one, show it once, keep its hash. */
    cf_random_b64url(32, key);
    cf_sha256(key, strlen(key), app->admin_key_hash);
    cf_hex_encode(app->admin_key_hash, 32, hex);
    strcat(hex, "\n");
    rc = write_secret_file(app->cfg.data_dir, path, hex, strlen(hex));
    if (rc < 0)
        return rc;
    fprintf(stderr, "curfew: admin key (shown once): %s\n"
                    "curfew: only its hash is stored in %s; set CURFEW_ADMIN_KEY to choose your own\n",
            key, path);
    OPENSSL_cleanse(key, sizeof key);
    return 0;
bad:
    CF_LOG(CF_LOG_ERROR, "event=startup_error what=admin_key path=%s error=\"unreadable or not a SHA-256 hex digest\"",
           path);
    return CF_ECONFIG;
}

/* ------------------------------------------------------------------ */
/* Timers: lazy activity flush and purge                               */
/* ------------------------------------------------------------------ */

/* One flush's sessions, by id: a session may be purged before the store answers. */
typedef struct {
    cf_app_t *app;
    size_t n;
    char sids[][CF_SID_LEN + 1];
} activity_flush_t;

/* A refused flush wrote nothing: the next one writes its sessions again. */
static void activity_flushed(void *arg, int status)
{
    activity_flush_t *f = arg;

    for (size_t i = 0; status < 0 && i < f->n; i++) {
        cf_session_t *s = cf_app_session(f->app, f->sids[i], CF_SID_LEN);
        if (s != NULL)
            cf_app_mark_active(f->app, s);
    }
    free(f);
}

/*
 * Activity is the one change we do not make durable before answering: every
 * check is activity, and an fsync per check would cap us at the disk's sync
 * rate. Instead the flush timer writes the newest activity of each touched
 * session in one batch. A crash loses at most one interval of activity, and a
 * lost update only moves the persisted idle deadline earlier, so a session
 * can expire early after a crash but never live longer than it should.
 */
static void flush_activity(cf_app_t *app)
{
    cf_events_t ev = CF_EVENTS_INIT;
    cf_time_t now = cf_app_now(app);
    activity_flush_t *f;
    size_t i = 0;

    if (app->ndirty == 0)
        return;
    f = malloc(sizeof *f + app->ndirty * sizeof f->sids[0]);
    if (f != NULL)
        *f = (activity_flush_t){.app = app};
    for (; i < app->ndirty; i++) {
        cf_session_t *s = app->dirty[i];
        s->dirty = 0;
        if (cf_events_add(&ev, CF_EV_ACTIVITY, now, s) == NULL) {
            i++; /* that one's activity is lost; the rest wait for the next flush */
            break;
        }
        if (f != NULL)
            memcpy(f->sids[f->n++], s->id, sizeof f->sids[0]);
    }
    if (i < app->ndirty) /* a failed batch: the rest move to the front */
        memmove(app->dirty, app->dirty + i, (app->ndirty - i) * sizeof *app->dirty);
    app->ndirty -= i;
    if (ev.n > 0) {
        cf_app_commit(app, &ev, f != NULL ? activity_flushed : NULL, f);
    } else {
        cf_events_fini(&ev);
        free(f);
    }
}

static void on_flush_timer(uv_timer_t *t)
{
    flush_activity(t->data);
    cf_app_alerts_act(t->data); /* an alert action the store refused, made again */
    cf_app_reload_drain(t->data); /* old configurations no request holds any more */
    cf_app_refusal_log_flush(t->data);
}
/*
 * The replay cache spans dpop.window + clock_leeway (a proof dated ahead by
 * the leeway verifies that long after its use; app/reload.c stretches it the
 * same way), and holds
 * dpop.replay_cache jtis per window over that span (capped at the option's
 * maximum, where it fails closed sooner).
 */
static cf_dpop_cache_t *dpop_cache(const cf_config_t *cfg, int64_t now)
{
    uint64_t w = (uint64_t)cf_time_to_sec(cfg->dpop_window), span = w + (uint64_t)cf_time_to_sec(cfg->clock_leeway);
    uint64_t max = DPOP_CACHE_CAP;

    if (w > 0 && span / w < DPOP_CACHE_CAP)
        max = ((uint64_t)cfg->dpop_replay_cache * span + w - 1) / w;
    return cf_dpop_cache_new(max < DPOP_CACHE_CAP ? (size_t)max : DPOP_CACHE_CAP, (int64_t)span,
                             now);
}


/* ------------------------------------------------------------------ */
/* Lifecycle                                                           */
/* ------------------------------------------------------------------ */

int cf_app_init(cf_app_t *app, const cf_config_t *cfg, uv_loop_t *loop)
{
    char path[600];
    int rc;

    memset(app, 0, sizeof *app);
    app->cfg = *cfg;
    app->loop = loop;
    cf_app_clock_init(app); /* the wall and monotonic clocks */
    cf_app_metrics_init(app);
    cf_random_bytes(&app->seed, sizeof app->seed);
    if (cf_app_index_init(app) < 0)
        return CF_ENOMEM;
    rc = cf_tokcache_init(&app->token_cache, CF_TOKEN_CACHE_SIZE, app->seed);
    if (rc < 0)
        return rc;
    app->dpop_jtis = dpop_cache(cfg, cf_time_to_sec(cf_app_now(app)));
    app->dpop_keys = cf_dpop_keys_new(CF_DPOP_KEY_CACHE);
    if (app->dpop_jtis == NULL || app->dpop_keys == NULL)
        return CF_ENOMEM;
    cf_random_bytes(app->dpop_nonce_key, sizeof app->dpop_nonce_key);

    app->secret_cache = calloc(cfg->policy.nclients + 1, sizeof *app->secret_cache);
    if (app->secret_cache == NULL)
        return CF_ENOMEM;
    rc = cf_app_guard_init(app);
    if (rc < 0)
        return rc;
    rc = make_dir(cfg->data_dir);
    if (rc < 0)
        return rc;
    if (cfg->audit_path[0] != '\0') {
        rc = cf_audit_open(cfg->audit_path, cfg->audit_buffer, &app->audit);
        if (rc < 0)
            return rc;
        CF_LOG(CF_LOG_INFO, "event=audit_opened path=%s buffer=%zu", cfg->audit_path,
               cfg->audit_buffer);
    }
    rc = cf_app_alerts_init(app);
    if (rc < 0)
        return rc;
    rc = cf_app_keys_init(app);
    if (rc < 0)
        return rc;
    rc = load_admin_key(app);
    if (rc < 0)
        return rc;
    if (strcmp(cfg->store_url, "sqlite") == 0) {
        snprintf(path, sizeof path, "%s/curfew.db", cfg->data_dir);
        rc = cf_store_open_sqlite(path, loop, &app->store);
    } else {
        rc = cf_app_cluster_open(app, cfg->store_url);
        if (rc == 0)
            rc = cf_app_keys_cluster_init(app);
    }
    if (rc < 0)
        return rc;
    return cf_app_load(app);
}

static void on_signal(uv_signal_t *h, int signum)
{
    cf_app_t *app = h->data;

    CF_LOG(CF_LOG_INFO, "event=shutdown signal=%d", signum);
    cf_app_stop(app);
}

/*
 * SIGHUP: logrotate has moved the audit log away (write to a fresh file),
 * or the operator changed the configuration (reload it: reload.c).
 */
int cf_app_hup(cf_app_t *app, char *why, size_t cap)
{
    int rc = CF_ENOTSUP;

    CF_LOG(CF_LOG_INFO, "event=sighup audit=%s", app->audit != NULL ? "reopen" : "off");
    if (app->audit != NULL)
        cf_audit_reopen(app->audit);
    if (app->reload != NULL)
        rc = cf_app_reload_config(app, why, cap); /* logs what it did or why not */
    else if (why != NULL && cap > 0)
        snprintf(why, cap, "no configuration file to read again");
    cf_app_client_ca_drop(app); /* renewed CA files are read on next use */
    /* Then the certificate files (a renewal keeps their names), under the
     * configuration now in force: new connections get it, open ones keep theirs. */
    if (app->cfg.tls_cert[0] != '\0' && app->http != NULL) {
        SSL_CTX *ctx = NULL;
        char err[1024];

        if (cf_config_tls_ctx(&app->cfg, &ctx, err, sizeof err) < 0) {
            CF_LOG(CF_LOG_ERROR, "event=tls_reload_failed keeping=previous error=\"%s\"", err);
            return rc;
        }
        (void)cf_http_server_set_tls(app->http, ctx);
        SSL_CTX_free(ctx);
        CF_LOG(CF_LOG_INFO, "event=tls_reloaded cert=%s", app->cfg.tls_cert);
    }
    return rc;
}

static void on_sighup(uv_signal_t *h, int signum)
{
    (void)signum;
    (void)cf_app_hup(h->data, NULL, 0);
}

int cf_app_start(cf_app_t *app, cf_http_handler_fn handler)
{
    cf_http_config_t hc = {
        .host = app->cfg.listen_host,
        .port = app->cfg.listen_port,
        .max_connections = app->cfg.max_connections,
        .idle_timeout = app->cfg.client_timeout,
        .request_timeout = app->cfg.client_timeout,
        .max_header_bytes = app->cfg.max_header_bytes,
        .max_body_bytes = app->cfg.max_body_bytes,
        .on_request = handler,
        .ctx = app,
    };
    char err[1024];
    int rc = 0;

    if (app->cfg.tls_cert[0] != '\0' && cf_config_tls_ctx(&app->cfg, &hc.tls, err, sizeof err) < 0) {
        CF_LOG(CF_LOG_ERROR, "event=tls_config_error error=\"%s\"", err);
        return CF_ECONFIG;
    }
    rc = cf_http_server_start(app->loop, &hc, &app->http);
    SSL_CTX_free(hc.tls); /* the server holds its own reference */
    if (rc < 0)
        return rc;
    app->started = 1;
    uv_timer_init(app->loop, &app->flush_timer);
    app->flush_timer.data = app;
    uv_timer_start(&app->flush_timer, on_flush_timer, (uint64_t)app->cfg.activity_flush,
                   (uint64_t)app->cfg.activity_flush);
    cf_app_purge_start(app);
    cf_app_keys_start(app);
    cf_app_clock_start(app);
    uv_signal_init(app->loop, &app->sigterm);
    app->sigterm.data = app;
    uv_signal_start(&app->sigterm, on_signal, SIGTERM);
    uv_signal_init(app->loop, &app->sigint);
    app->sigint.data = app;
    uv_signal_start(&app->sigint, on_signal, SIGINT);
    uv_signal_init(app->loop, &app->sighup);
    app->sighup.data = app;
    uv_signal_start(&app->sighup, on_sighup, SIGHUP);
    cf_app_cluster_start(app);
    rc = cf_app_verify_start(app);
    if (rc < 0)
        return rc;
    CF_LOG(CF_LOG_INFO, "event=listening addr=%s port=%d scheme=%s kid=%s", app->cfg.listen_host,
           cf_http_server_port(app->http), hc.tls != NULL ? "https" : "http", cf_jws_key_kid(cf_app_signing_key(app)));
    return 0;
}

int cf_app_port(const cf_app_t *app)
{
    return cf_http_server_port(app->http);
}

void cf_app_stop(cf_app_t *app)
{
    if (app->stopping)
        return;
    app->stopping = 1;
    if (app->http != NULL)
        cf_http_server_stop(app->http);
    app->http = NULL;
    cf_app_verify_stop(app); /* its callbacks answer requests: before the store closes */
    if (app->started) {
        /* Only handles that were initialised may be closed. */
        uv_close((uv_handle_t *)&app->flush_timer, NULL);
        uv_close((uv_handle_t *)&app->purge_timer, NULL);
        cf_app_clock_stop(app);
        cf_app_keys_stop(app);
        uv_close((uv_handle_t *)&app->sigterm, NULL);
        uv_close((uv_handle_t *)&app->sigint, NULL);
        uv_close((uv_handle_t *)&app->sighup, NULL);
    }
    cf_app_cluster_stop(app);
    cf_app_sign_stop(app); /* tokens being signed reach their answers */
    if (app->apikeys_ext != NULL)
        app->apikeys_ext->stop(app); /* its lazy usage, before the store closes */
    flush_activity(app);
    if (app->store != NULL) {
        cf_store_stats_t st;
        cf_store_close(app->store, &st); /* commits the queue and runs every pending callback */
        CF_LOG(CF_LOG_INFO, "event=store_closed batches=%llu commits=%llu events=%llu failures=%llu",
               (unsigned long long)st.batches, (unsigned long long)st.commits,
               (unsigned long long)st.events, (unsigned long long)st.failures);
    }
    app->store = NULL;
    /* Last: the store's callbacks may still have committed events. */
    cf_audit_close(app->audit);
    app->audit = NULL;
}

void cf_app_fini(cf_app_t *app)
{
    if (app->apikeys_ext != NULL)
        app->apikeys_ext->fini(app);
    cf_index_free(app->index);
    free(app->dirty);
    app->index = NULL;
    cf_app_cluster_fini(app);
    cf_tokcache_fini(&app->token_cache);
    cf_app_sign_fini(app);
    cf_dpop_cache_free(app->dpop_jtis);
    app->dpop_jtis = NULL;
    cf_dpop_keys_free(app->dpop_keys);
    app->dpop_keys = NULL;
    if (app->secret_cache != NULL)
        OPENSSL_cleanse(app->secret_cache, (app->cfg.policy.nclients + 1) * sizeof *app->secret_cache);
    free(app->secret_cache);
    cf_app_guard_fini(app);
    cf_app_keys_fini(app);
    cf_app_alerts_fini(app);
    cf_app_metrics_fini(app);
    cf_app_reload_fini(app);
    cf_audit_close(app->audit); /* when init failed after opening it */
    app->audit = NULL;
}
