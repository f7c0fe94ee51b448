/* SPDX-License-Identifier: MIT
 *
 * A worker thread and a blocking socket rather than a libuv client: alerts
 * are rare, a blocking POST with timeouts is a few dozen lines, and the loop
 * thread never waits on it (it only takes the queue lock for a copy).
 */
#include "obs/webhook.h"

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "core/error.h"
#include "util/log.h"
#include "util/url.h"

typedef struct item {
    struct item *next;
    size_t len;
    char body[];
} item_t;

/*
 * One name resolution, on a thread of its own: getaddrinfo cannot be given a
 * deadline (a resolver that never answers holds it for resolv.conf's
 * timeout x attempts x servers x families, or longer), so the worker waits
 * for it no longer than the attempt's deadline and leaves it behind. The
 * resolution and the webhook each hold a reference; the last one frees it.
 * While a resolution left behind is still running, the next attempt waits
 * for that one instead of starting another: at most one thread per webhook.
 */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs, done, cancel, rc;
    struct addrinfo *res;
    char host[256], port[8];
} resolve_t;

struct cf_webhook {
    char host[256], port[8], path[1024];
    resolve_t *resolving; /* the resolution under way, or NULL (under mu) */
    SSL_CTX *tls; /* https: verifies the receiver's chain and name; NULL for http */
    char why[128]; /* why the last attempt failed (worker thread only) */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    item_t *head, *tail;
    size_t queued, cap;
    int stop;
    uint64_t sent, failed, dropped;
};

/* The last OpenSSL error as text, for the log. */
static void tls_why(cf_webhook_t *w, const char *what, SSL *ssl)
{
    unsigned long e = ERR_peek_last_error();
    long v = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;

    if (v != X509_V_OK)
        snprintf(w->why, sizeof w->why, "%s: %s", what, X509_verify_cert_error_string(v));
    else
        snprintf(w->why, sizeof w->why, "%s: %s", what,
                 e != 0 && ERR_reason_error_string(e) != NULL ? ERR_reason_error_string(e)
                                                              : "connection closed");
    ERR_clear_error();
}

/*
 * One attempt, from connect to the answer's status line, has this long in
 * all: a per-read timeout alone let a receiver (or anyone on the path) that
 * feeds the handshake a byte a second hold the worker, and the alerts, for hours.
 */
#define ATTEMPT_MS 5000

typedef struct {
    int fd;
    struct timespec end; /* CLOCK_MONOTONIC */
} deadline_t;

static void deadline_start(deadline_t *d)
{
    clock_gettime(CLOCK_MONOTONIC, &d->end);
    d->end.tv_sec += ATTEMPT_MS / 1000;
    d->fd = -1;
}

/* Bound the next blocking call on d->fd by what is left: 0, or -1 when nothing is. */
static int deadline_arm(const deadline_t *d)
{
    struct timespec now;
    struct timeval tv;
    long ms;

    clock_gettime(CLOCK_MONOTONIC, &now);
    ms = (long)(d->end.tv_sec - now.tv_sec) * 1000L + (d->end.tv_nsec - now.tv_nsec) / 1000000L;
    if (ms <= 0)
        return -1;
    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000; /* at least 1 ms: a zero timeval would mean "never" */
    (void)setsockopt(d->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    (void)setsockopt(d->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return 0;
}

/* Each read and write OpenSSL makes on the socket is bounded by the attempt's deadline. */
static long bio_deadline(BIO *b, int oper, const char *argp, size_t len, int argi, long argl,
                         int ret, size_t *processed)
{
    (void)argp, (void)len, (void)argi, (void)argl, (void)processed;
    if (oper == BIO_CB_READ || oper == BIO_CB_WRITE)
        return deadline_arm((const deadline_t *)(void *)BIO_get_callback_arg(b)) == 0 ? ret : -1;
    return ret;
}

/*
 * TLS over the connected @fd: the receiver's chain must verify against
 * alerts.webhook_ca (or the system's CAs) and name the URL's host (a DNS
 * name, or an IP address SAN for an IP literal). NULL when it does not.
 */
static SSL *tls_open(cf_webhook_t *w, deadline_t *d)
{
    SSL *ssl = SSL_new(w->tls);
    unsigned char ip[16];
    int is_ip = inet_pton(AF_INET, w->host, ip) == 1 || inet_pton(AF_INET6, w->host, ip) == 1;

    if (ssl == NULL || SSL_set_fd(ssl, d->fd) != 1)
        goto fail;
    BIO_set_callback_arg(SSL_get_rbio(ssl), (char *)d);
    BIO_set_callback_ex(SSL_get_rbio(ssl), bio_deadline);
    if (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), w->host) != 1
              : (SSL_set_tlsext_host_name(ssl, w->host) != 1 || SSL_set1_host(ssl, w->host) != 1))
        goto fail;
    if (SSL_connect(ssl) != 1)
        goto fail;
    return ssl;
fail:
    tls_why(w, "tls", ssl);
    SSL_free(ssl);
    return NULL;
}

static void resolve_unref(resolve_t *r)
{
    int last;

    pthread_mutex_lock(&r->mu);
    last = --r->refs == 0;
    pthread_mutex_unlock(&r->mu);
    if (!last)
        return;
    if (r->res != NULL)
        freeaddrinfo(r->res);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

static void *resolve_thread(void *arg)
{
    resolve_t *r = arg;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc = getaddrinfo(r->host, r->port, &hints, &res);

    pthread_mutex_lock(&r->mu);
    r->rc = rc;
    r->res = rc == 0 ? res : NULL;
    r->done = 1;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    resolve_unref(r);
    return NULL;
}

/* The resolution under way, or a new one started; NULL when no thread can be made. */
static resolve_t *resolve_get(cf_webhook_t *w)
{
    resolve_t *r;
    pthread_attr_t attr;
    pthread_condattr_t ca;
    pthread_t t;
    int ok;

    pthread_mutex_lock(&w->mu);
    r = w->resolving;
    pthread_mutex_unlock(&w->mu);
    if (r != NULL)
        return r;
    if ((r = calloc(1, sizeof *r)) == NULL)
        return NULL;
    pthread_condattr_init(&ca);
    (void)pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* the deadline's clock */
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, &ca);
    pthread_condattr_destroy(&ca);
    r->refs = 2; /* the thread's and the webhook's */
    memcpy(r->host, w->host, sizeof r->host);
    memcpy(r->port, w->port, sizeof r->port);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    ok = pthread_create(&t, &attr, resolve_thread, r) == 0;
    pthread_attr_destroy(&attr);
    if (!ok) {
        r->refs = 1;
        resolve_unref(r);
        return NULL;
    }
    pthread_mutex_lock(&w->mu);
    w->resolving = r;
    pthread_mutex_lock(&r->mu);
    r->cancel = w->stop; /* cf_webhook_free came first: wait for nothing */
    pthread_mutex_unlock(&r->mu);
    pthread_mutex_unlock(&w->mu);
    return r;
}

/*
 * The addresses of the webhook's host into *@res (freeaddrinfo them), within
 * @d's deadline and unless the webhook is being freed: 0, or -1 (w->why says why).
 */
static int resolve(cf_webhook_t *w, const deadline_t *d, struct addrinfo **res)
{
    resolve_t *r = resolve_get(w);
    int rc;

    *res = NULL;
    if (r == NULL)
        return -1;
    pthread_mutex_lock(&r->mu);
    while (!r->done && !r->cancel)
        if (pthread_cond_timedwait(&r->cv, &r->mu, &d->end) == ETIMEDOUT)
            break;
    if (!r->done) {
        pthread_mutex_unlock(&r->mu);
        snprintf(w->why, sizeof w->why, "name resolution: no answer within %d s", ATTEMPT_MS / 1000);
        return -1; /* left running: the next attempt waits for it */
    }
    rc = r->rc;
    *res = r->res;
    r->res = NULL;
    pthread_mutex_unlock(&r->mu);
    pthread_mutex_lock(&w->mu);
    w->resolving = NULL;
    pthread_mutex_unlock(&w->mu);
    resolve_unref(r);
    if (rc != 0) {
        snprintf(w->why, sizeof w->why, "name resolution: %s", gai_strerror(rc));
        return -1;
    }
    return 0;
}

/* Write all of @buf, over TLS when @ssl, within @d. */
static int send_all(SSL *ssl, const deadline_t *d, const char *buf, size_t len)
{
    if (ssl != NULL)
        return len == 0 || SSL_write(ssl, buf, (int)len) == (int)len ? 0 : -1;
    return deadline_arm(d) == 0 && send(d->fd, buf, len, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

/* One attempt: 0 on a 2xx answer, -1 otherwise (w->why says why). */
static int deliver(cf_webhook_t *w, const item_t *it)
{
    struct addrinfo *res = NULL, *ai;
    char head[1600], resp[64];
    int fd = -1, hl, rc = -1;
    size_t got = 0;
    deadline_t d;

    SSL *ssl = NULL;

    snprintf(w->why, sizeof w->why, "no connection");
    deadline_start(&d);
    if (resolve(w, &d, &res) < 0)
        return -1;
    snprintf(w->why, sizeof w->why, "no connection");
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
            continue;
        d.fd = fd;
        if (deadline_arm(&d) == 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        return -1;
    d.fd = fd;
    if (w->tls != NULL && (ssl = tls_open(w, &d)) == NULL)
        goto done;
    snprintf(w->why, sizeof w->why, "no 2xx answer");
    hl = snprintf(head, sizeof head,
                  "POST %s HTTP/1.1\r\nHost: %s:%s\r\nContent-Type: application/json\r\n"
                  "User-Agent: curfew-alerts\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                  w->path, w->host, w->port, it->len);
    if (hl < 0 || (size_t)hl >= sizeof head)
        goto done;
    if (send_all(ssl, &d, head, (size_t)hl) < 0 || send_all(ssl, &d, it->body, it->len) < 0)
        goto done;
    while (got < 12) {
        ssize_t n = ssl != NULL ? SSL_read(ssl, resp + got, (int)(sizeof resp - 1 - got))
                  : deadline_arm(&d) < 0 ? -1
                                         : recv(fd, resp + got, sizeof resp - 1 - got, 0);
        if (n <= 0)
            goto done;
        got += (size_t)n;
    }
    resp[got] = '\0';
    if (strncmp(resp, "HTTP/1.", 7) == 0 && resp[9] == '2')
        rc = 0;
done:
    if (ssl != NULL) {
        (void)SSL_shutdown(ssl);
        SSL_free(ssl);
    }
    ERR_clear_error();
    close(fd);
    return rc;
}

/* Sleep @ms unless stopped; returns 1 when stopped. Called with the lock held. */
static int nap(cf_webhook_t *w, long ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    while (!w->stop)
        if (pthread_cond_timedwait(&w->cv, &w->mu, &ts) == ETIMEDOUT)
            break;
    return w->stop;
}

static void *worker(void *arg)
{
    cf_webhook_t *w = arg;

    pthread_mutex_lock(&w->mu);
    for (;;) {
        item_t *it;
        int ok = 0;
        long backoff = CF_WEBHOOK_BACKOFF_MS;

        while (w->head == NULL && !w->stop)
            pthread_cond_wait(&w->cv, &w->mu);
        if (w->stop)
            break;
        it = w->head;
        w->head = it->next;
        if (w->head == NULL)
            w->tail = NULL;
        w->queued--;
        for (int a = 0; a < CF_WEBHOOK_ATTEMPTS; a++) {
            if (a > 0) {
                if (nap(w, backoff))
                    break;
                backoff *= 2;
            }
            pthread_mutex_unlock(&w->mu);
            ok = deliver(w, it) == 0;
            pthread_mutex_lock(&w->mu);
            if (ok)
                break;
        }
        if (ok) {
            w->sent++;
        } else {
            w->failed++;
            CF_LOG(CF_LOG_WARN,
                   "event=alert_webhook_failed attempts=%d failed_total=%llu error=\"%s\"",
                   CF_WEBHOOK_ATTEMPTS, (unsigned long long)w->failed, w->why);
        }
        free(it);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* A client context that verifies the peer: TLS 1.2+, @ca or the system's CAs. */
static SSL_CTX *client_ctx(const char *ca)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    if (ctx == NULL)
        return NULL;
    (void)SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if ((ca != NULL && ca[0] != '\0') ? SSL_CTX_load_verify_file(ctx, ca) != 1
                                      : SSL_CTX_set_default_verify_paths(ctx) != 1) {
        SSL_CTX_free(ctx);
        ctx = NULL;
    }
    ERR_clear_error();
    return ctx;
}

int cf_webhook_new(const char *url, const char *ca, size_t queue, cf_webhook_t **out)
{
    cf_http_url_t parsed;
    cf_webhook_t *w;

    *out = NULL;
    if (cf_url_parse_http(url, &parsed) != NULL)
        return CF_EINVAL;
    w = calloc(1, sizeof *w);
    if (w == NULL)
        return CF_ENOMEM;
    memcpy(w->host, parsed.host, sizeof w->host);
    memcpy(w->port, parsed.port, sizeof w->port);
    memcpy(w->path, parsed.path, sizeof w->path);
    if (parsed.tls && (w->tls = client_ctx(ca)) == NULL) {
        free(w);
        return CF_EINVAL;
    }
    w->cap = queue > 0 ? queue : 1;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    if (pthread_create(&w->thread, NULL, worker, w) != 0) {
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        SSL_CTX_free(w->tls);
        free(w);
        return CF_EIO;
    }
    *out = w;
    return 0;
}

int cf_webhook_post(cf_webhook_t *w, const char *body, size_t len)
{
    item_t *it;
    uint64_t dropped;

    pthread_mutex_lock(&w->mu);
    if (w->queued >= w->cap) {
        dropped = ++w->dropped;
        pthread_mutex_unlock(&w->mu);
        CF_LOG(CF_LOG_WARN, "event=alert_webhook_dropped why=queue_full dropped_total=%llu",
               (unsigned long long)dropped);
        return CF_ETOOBIG;
    }
    pthread_mutex_unlock(&w->mu);
    it = malloc(sizeof *it + len);
    if (it == NULL)
        return CF_ENOMEM;
    it->next = NULL;
    it->len = len;
    memcpy(it->body, body, len);
    pthread_mutex_lock(&w->mu);
    if (w->tail != NULL)
        w->tail->next = it;
    else
        w->head = it;
    w->tail = it;
    w->queued++;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return 0;
}

void cf_webhook_stats(cf_webhook_t *w, uint64_t *sent, uint64_t *failed, uint64_t *dropped)
{
    pthread_mutex_lock(&w->mu);
    *sent = w->sent;
    *failed = w->failed;
    *dropped = w->dropped;
    pthread_mutex_unlock(&w->mu);
}

void cf_webhook_free(cf_webhook_t *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    pthread_cond_broadcast(&w->cv);
    if (w->resolving != NULL) { /* a worker waiting for a resolution: not for longer */
        pthread_mutex_lock(&w->resolving->mu);
        w->resolving->cancel = 1;
        pthread_cond_broadcast(&w->resolving->cv);
        pthread_mutex_unlock(&w->resolving->mu);
    }
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    if (w->resolving != NULL) /* still running: its thread frees it */
        resolve_unref(w->resolving);
    while (w->head != NULL) {
        item_t *it = w->head;
        w->head = it->next;
        free(it);
    }
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    SSL_CTX_free(w->tls);
    free(w);
}
