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

struct cf_webhook {
    char host[256], port[8], path[1024];
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
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL, *ai;
    char head[1600], resp[64];
    int fd = -1, hl, rc = -1;
    size_t got = 0;
    deadline_t d;

    SSL *ssl = NULL;

    snprintf(w->why, sizeof w->why, "no connection");
    deadline_start(&d);
    if (getaddrinfo(w->host, w->port, &hints, &res) != 0)
        return -1;
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
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
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
