/* SPDX-License-Identifier: MIT
 *
 * A tiny blocking HTTP/1.1 client for the admin CLI: one request per TCP
 * connection ("Connection: close"), a timeout on connect and on every wait
 * for data, a deadline on the whole request, and a cap on the response size. It only speaks to curfew's admin
 * API, so it knows Content-Length and read-until-close, not chunked bodies
 * and TLS (https:// URLs, verified against --cacert FILE / $CURFEW_CACERT or
 * the system's CAs, host name or IP address checked).
 */
#include <errno.h>
#include <getopt.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "cli/cli.h"

/* ------------------------------------------------------------------ setup */

static int parse_server(cf_cli_conn_t *c, const char *server)
{
    const char *p, *host, *host_end, *port;
    size_t hlen, plen, ulen = strlen(server);

    while (ulen > 0 && server[ulen - 1] == '/')
        ulen--;
    c->tls = strncmp(server, "https://", 8) == 0;
    if (ulen >= sizeof c->url || (strncmp(server, "http://", 7) != 0 && !c->tls))
        return -1;
    port = c->tls ? "443" : "80";
    plen = c->tls ? 3 : 2;
    memcpy(c->url, server, ulen);
    c->url[ulen] = '\0';
    p = c->url + (c->tls ? 8 : 7);
    if (*p == '[') {
        host = p + 1;
        host_end = strchr(host, ']');
        if (host_end == NULL)
            return -1;
        p = host_end + 1;
    } else {
        host = p;
        host_end = p + strcspn(p, ":/");
        p = host_end;
    }
    if (*p == ':') {
        port = p + 1;
        plen = strspn(port, "0123456789");
        if (plen == 0 || plen > 5 || port[plen] != '\0' || atoi(port) < 1 || atoi(port) > 65535)
            return -1;
    } else if (*p != '\0') {
        return -1; /* a path, or garbage after the host */
    }
    hlen = (size_t)(host_end - host);
    if (hlen == 0 || hlen >= sizeof c->host)
        return -1;
    memcpy(c->host, host, hlen);
    c->host[hlen] = '\0';
    memcpy(c->port, port, plen);
    c->port[plen] = '\0';
    return 0;
}

static int set_key(cf_cli_conn_t *c, const char *key, size_t len)
{
    while (len > 0 && (key[len - 1] == '\n' || key[len - 1] == '\r' || key[len - 1] == ' ' ||
                       key[len - 1] == '\t'))
        len--;
    if (len == 0 || len >= sizeof c->key)
        return -1;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)key[i] <= 0x20 || (unsigned char)key[i] > 0x7e)
            return -1; /* would break the header, and is no key we issue */
    memcpy(c->key, key, len);
    c->key[len] = '\0';
    return 0;
}

/* $CURFEW_TIMEOUT: whole seconds a request may take in all (default CF_CLI_DEADLINE_S). */
static int parse_timeout(cf_cli_conn_t *c, const char *cmd)
{
    const char *env = getenv("CURFEW_TIMEOUT");
    char *end;
    long v;

    c->deadline_s = CF_CLI_DEADLINE_S;
    if (env == NULL || env[0] == '\0')
        return 0;
    errno = 0;
    v = strtol(env, &end, 10);
    if (errno != 0 || end == env || *end != '\0' || v < 1 || v > CF_CLI_DEADLINE_MAX_S) {
        fprintf(stderr, "%s: CURFEW_TIMEOUT: expected whole seconds from 1 to %d, got '%s'\n", cmd,
                CF_CLI_DEADLINE_MAX_S, env);
        return -1;
    }
    c->deadline_s = (int)v;
    return 0;
}

int cf_cli_conn_init(cf_cli_conn_t *c, const char *cmd, const char *server, const char *key_file)
{
    const char *env;

    memset(c, 0, sizeof *c);
    c->cmd = cmd;
    if (server == NULL)
        server = CF_CLI_DEFAULT_SERVER;
    if (parse_server(c, server) < 0) {
        fprintf(stderr, "%s: --server: expected http://HOST:PORT or https://HOST:PORT, got '%s'\n",
                cmd, server);
        return CF_CLI_EXIT_USAGE;
    }
    if (parse_timeout(c, cmd) < 0)
        return CF_CLI_EXIT_USAGE;
    env = getenv("CURFEW_CACERT");
    if (env != NULL && env[0] != '\0') {
        if (strlen(env) >= sizeof c->cacert || access(env, R_OK) < 0) {
            fprintf(stderr, "%s: --cacert: cannot read '%s': %s\n", cmd, env,
                    strlen(env) >= sizeof c->cacert ? "name too long" : strerror(errno));
            return CF_CLI_EXIT_USAGE;
        }
        strcpy(c->cacert, env);
    }
    if (key_file != NULL) {
        char buf[sizeof c->key + 2];
        size_t n;
        FILE *f = fopen(key_file, "r");
        if (f == NULL) {
            fprintf(stderr, "%s: cannot read key file %s: %s\n", cmd, key_file, strerror(errno));
            return CF_CLI_EXIT_FAIL;
        }
        n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        n = strcspn(buf, "\n"); /* the first line */
        if (set_key(c, buf, n) < 0) {
            fprintf(stderr, "%s: key file %s does not hold an admin key (one line, printable, at most %zu characters)\n",
                    cmd, key_file, sizeof c->key - 1);
            return CF_CLI_EXIT_FAIL;
        }
        return 0;
    }
    env = getenv("CURFEW_ADMIN_KEY");
    if (env == NULL || env[0] == '\0') {
        fprintf(stderr, "%s: no admin key: set CURFEW_ADMIN_KEY or pass --key-file FILE\n", cmd);
        return CF_CLI_EXIT_USAGE;
    }
    if (set_key(c, env, strlen(env)) < 0) {
        fprintf(stderr, "%s: CURFEW_ADMIN_KEY is not a valid admin key\n", cmd);
        return CF_CLI_EXIT_USAGE;
    }
    return 0;
}

/* ------------------------------------------------------------- transport */

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * When a request gives up: each wait for the server (connect, the TLS
 * handshake, each read or write) at most CF_CLI_TIMEOUT_MS, and all of them
 * together until @end, so a server that drips a byte just inside the idle
 * timeout cannot hold the command either. Which one ran out is kept for the
 * message (set once: the first expiry is the one that counts).
 */
typedef struct {
    int64_t end;   /* CLOCK_MONOTONIC ms */
    int timed_out; /* the last wait ran out of time */
    int overall;   /* ... and it was the deadline, not the idle timeout */
} bound_t;

/* Wait for @events on @fd within @b; 0 when ready, else a negative errno (-ETIMEDOUT). */
static int wait_fd(int fd, short events, bound_t *b)
{
    struct pollfd pfd = {.fd = fd, .events = events};
    int64_t left;
    int n, ms;

    b->timed_out = b->overall = 0;
    do {
        left = b->end - now_ms();
        if (left <= 0) {
            b->timed_out = b->overall = 1;
            return -ETIMEDOUT;
        }
        ms = left < CF_CLI_TIMEOUT_MS ? (int)left : CF_CLI_TIMEOUT_MS;
        n = poll(&pfd, 1, ms);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    if (n > 0)
        return 0;
    b->timed_out = 1;
    b->overall = ms < CF_CLI_TIMEOUT_MS;
    return -ETIMEDOUT;
}

static int connect_to(const cf_cli_conn_t *c, bound_t *b, int *out, char *why, size_t cap)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL, *ai;
    int fd = -1, err = ECONNREFUSED, rc;

    rc = getaddrinfo(c->host, c->port, &hints, &res);
    if (rc != 0) {
        snprintf(why, cap, "%s", gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        if (errno == EINPROGRESS) {
            socklen_t len = sizeof err;
            rc = wait_fd(fd, POLLOUT, b);
            if (rc < 0)
                err = -rc;
            else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                err = errno;
            if (rc == 0 && err == 0)
                break;
        } else {
            err = errno;
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        snprintf(why, cap, "%s", err == ETIMEDOUT ? "timed out" : strerror(err));
        return -1;
    }
    *out = fd;
    return 0;
}

/* One connection: a socket, and TLS over it for https://. */
typedef struct {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
    bound_t bound;
} io_t;

/* TLS read or write on the non-blocking socket, waiting as OpenSSL asks: n, 0 at close, -errno. */
static ssize_t tls_xfer(io_t *io, char *p, size_t len, int writing)
{
    for (;;) {
        int n = writing ? SSL_write(io->ssl, p, (int)len) : SSL_read(io->ssl, p, (int)len);
        int e, rc;

        if (n > 0)
            return n;
        e = SSL_get_error(io->ssl, n);
        if (e == SSL_ERROR_ZERO_RETURN)
            return 0;
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
            return -EPROTO;
        rc = wait_fd(io->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, &io->bound);
        if (rc < 0)
            return rc;
    }
}

/*
 * The TLS handshake for an https:// server: TLS 1.2 at least, the chain
 * verified against --cacert (or the system's CAs), and the certificate
 * checked for the host name or IP address of --server. 0, or -1 with @why.
 */
static int tls_connect(const cf_cli_conn_t *c, io_t *io, char *why, size_t cap)
{
    unsigned char ip[16];
    int is_ip = inet_pton(AF_INET, c->host, ip) == 1 || inet_pton(AF_INET6, c->host, ip) == 1;
    int n, e;
    long vr;

    io->ctx = SSL_CTX_new(TLS_client_method());
    if (io->ctx == NULL)
        goto fail;
    (void)SSL_CTX_set_min_proto_version(io->ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(io->ctx, SSL_VERIFY_PEER, NULL);
    if (c->cacert[0] != '\0' ? SSL_CTX_load_verify_locations(io->ctx, c->cacert, NULL) != 1
                             : SSL_CTX_set_default_verify_paths(io->ctx) != 1) {
        snprintf(why, cap, "cannot load CA certificates from %.180s", c->cacert[0] ? c->cacert : "the system");
        return -1;
    }
    io->ssl = SSL_new(io->ctx);
    if (io->ssl == NULL || SSL_set_fd(io->ssl, io->fd) != 1)
        goto fail;
    if (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(io->ssl), c->host) != 1
              : (SSL_set1_host(io->ssl, c->host) != 1 ||
                 SSL_set_tlsext_host_name(io->ssl, c->host) != 1))
        goto fail;
    for (;;) {
        n = SSL_connect(io->ssl);
        if (n == 1)
            return 0;
        e = SSL_get_error(io->ssl, n);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
            break;
        if (wait_fd(io->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, &io->bound) < 0) {
            snprintf(why, cap, "TLS handshake timed out");
            return -1;
        }
    }
    vr = SSL_get_verify_result(io->ssl);
    if (vr != X509_V_OK)
        snprintf(why, cap, "TLS: certificate not trusted: %s%s", X509_verify_cert_error_string(vr),
                 c->cacert[0] ? "" : " (pass --cacert FILE)");
    else
        snprintf(why, cap, "TLS handshake failed: %s",
                 ERR_reason_error_string(ERR_peek_last_error()) ? ERR_reason_error_string(ERR_peek_last_error())
                                                                 : "connection closed");
    return -1;
fail:
    snprintf(why, cap, "cannot set up TLS");
    return -1;
}

static void io_close(io_t *io)
{
    if (io->ssl != NULL)
        (void)SSL_shutdown(io->ssl); /* best effort close_notify */
    SSL_free(io->ssl);
    SSL_CTX_free(io->ctx);
    ERR_clear_error();
    if (io->fd >= 0)
        close(io->fd);
    io->fd = -1;
    io->ssl = NULL;
    io->ctx = NULL;
}

static int send_all(io_t *io, const char *p, size_t len)
{
    int fd = io->fd;

    while (len > 0) {
        ssize_t n = io->ssl != NULL ? tls_xfer(io, (char *)p, len, 1) : send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EAGAIN) {
            int rc = wait_fd(fd, POLLOUT, &io->bound);
            if (rc < 0)
                return rc;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Where the body starts and how long it is (-1: until the connection closes). */
static int parse_head(const char *buf, size_t hlen, int *status, long long *clen)
{
    const char *line, *end = buf + hlen;

    if (hlen < 12 || strncmp(buf, "HTTP/1.", 7) != 0 || buf[8] != ' ')
        return -1;
    *status = atoi(buf + 9);
    if (*status < 100 || *status > 999)
        return -1;
    *clen = -1;
    for (line = memchr(buf, '\n', hlen); line != NULL && line + 1 < end;
         line = memchr(line + 1, '\n', (size_t)(end - line - 1))) {
        const char *h = line + 1;
        if (strncasecmp(h, "Content-Length:", 15) == 0)
            *clen = strtoll(h + 15, NULL, 10);
        else if (strncasecmp(h, "Transfer-Encoding:", 18) == 0)
            return -1; /* curfew never sends chunked replies */
    }
    return 0;
}

/* Send the request line, the headers and @body on @fd; 0, or -1 with @why set. */
static int send_request(const cf_cli_conn_t *c, io_t *io, const char *method, const char *path,
                        const char *body, int with_key, char *why, size_t whycap)
{
    char head[1024 + sizeof c->key];
    int n, rc;

    n = snprintf(head, sizeof head,
                 "%s %s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: curfew-cli/%s\r\n"
                 "Accept: application/json\r\nConnection: close\r\n%s%s%s"
                 "%s%zu%s\r\n",
                 method, path, c->host, c->port, CF_VERSION, with_key ? "Authorization: Bearer " : "",
                 with_key ? c->key : "", with_key ? "\r\n" : "",
                 body ? "Content-Type: application/json\r\nContent-Length: " : "Content-Length: ",
                 body ? strlen(body) : (size_t)0, "\r\n");
    if (n < 0 || (size_t)n >= sizeof head) {
        snprintf(why, whycap, "request too long");
        return -1;
    }
    rc = send_all(io, head, (size_t)n);
    if (rc == 0 && body != NULL)
        rc = send_all(io, body, strlen(body));
    if (rc < 0) {
        snprintf(why, whycap, "%s", rc == -ETIMEDOUT ? "timed out" : strerror(-rc));
        return -1;
    }
    return 0;
}

/* A response as it arrives: the head ends at hlen (0 until seen), the body is clen bytes (-1: to EOF). */
typedef struct {
    char *buf;
    size_t cap, len, hlen;
    long long clen;
} reply_t;

/* Room for one more byte at least, doubling up to CF_CLI_MAX_RESPONSE; 0, or -1 with @why. */
static int reply_grow(reply_t *r, char *why, size_t whycap)
{
    char *tmp;

    if (r->len + 1 < r->cap)
        return 0;
    if (r->cap >= CF_CLI_MAX_RESPONSE) {
        snprintf(why, whycap, "response larger than %u bytes", CF_CLI_MAX_RESPONSE);
        return -1;
    }
    tmp = realloc(r->buf, r->cap * 2);
    if (tmp == NULL) {
        snprintf(why, whycap, "out of memory");
        return -1;
    }
    r->buf = tmp;
    r->cap *= 2;
    return 0;
}

/* Read into @r until the peer closes or the whole body is here, parsing the head on the way. */
static int read_response(io_t *io, reply_t *r, int *status, char *why, size_t whycap)
{
    int fd = io->fd;

    for (;;) {
        ssize_t got;
        int rc;

        if (r->hlen > 0 && r->clen >= 0 && r->len - r->hlen >= (size_t)r->clen)
            break;
        if (reply_grow(r, why, whycap) < 0)
            return -1;
        if (now_ms() >= io->bound.end) { /* bytes keep coming, too slowly to finish */
            io->bound.timed_out = io->bound.overall = 1;
            snprintf(why, whycap, "timed out");
            return -1;
        }
        got = io->ssl != NULL ? tls_xfer(io, r->buf + r->len, r->cap - r->len - 1, 0)
                              : recv(fd, r->buf + r->len, r->cap - r->len - 1, 0);
        if (got < 0 && io->ssl != NULL) {
            snprintf(why, whycap, "%s", got == -ETIMEDOUT ? "timed out" : "TLS error");
            return -1;
        }
        if (got < 0 && (errno == EAGAIN || errno == EINTR)) {
            rc = wait_fd(fd, POLLIN, &io->bound);
            if (rc < 0) {
                snprintf(why, whycap, "%s", rc == -ETIMEDOUT ? "timed out" : strerror(-rc));
                return -1;
            }
            continue;
        }
        if (got < 0) {
            snprintf(why, whycap, "%s", strerror(errno));
            return -1;
        }
        if (got == 0)
            break;
        r->len += (size_t)got;
        r->buf[r->len] = '\0';
        if (r->hlen == 0) {
            char *eoh = strstr(r->buf, "\r\n\r\n");
            if (eoh != NULL) {
                r->hlen = (size_t)(eoh - r->buf) + 4;
                if (parse_head(r->buf, r->hlen, status, &r->clen) < 0) {
                    snprintf(why, whycap, "malformed HTTP response");
                    return -1;
                }
            }
        }
    }
    if (r->hlen == 0 || (r->clen >= 0 && r->len - r->hlen < (size_t)r->clen)) {
        snprintf(why, whycap, "connection closed before the whole response arrived");
        return -1;
    }
    return 0;
}

/* The one line a request that ran out of time prints: which bound, and in what phase. */
static void report_timeout(const cf_cli_conn_t *c, const bound_t *b, const char *what)
{
    int connecting = strcmp(what, "cannot connect to") == 0;

    if (b->overall)
        fprintf(stderr, "curfew: %s: no answer within %d s (the whole request; CURFEW_TIMEOUT)\n",
                c->url, c->deadline_s > 0 ? c->deadline_s : CF_CLI_DEADLINE_S);
    else
        fprintf(stderr, "curfew: %s: no answer within %d s (%s)\n", c->url,
                CF_CLI_TIMEOUT_MS / 1000, connecting ? "connecting" : "nothing received");
}

int cf_cli_http(const cf_cli_conn_t *c, const char *method, const char *path, const char *body,
                int with_key, cf_cli_resp_t *out)
{
    char why[256];
    const char *what = "cannot connect to";
    reply_t r = {NULL, 16384, 0, 0, -1};
    io_t io = {.fd = -1};

    memset(out, 0, sizeof *out);
    io.bound.end = now_ms() + (int64_t)(c->deadline_s > 0 ? c->deadline_s : CF_CLI_DEADLINE_S) * 1000;
    if (connect_to(c, &io.bound, &io.fd, why, sizeof why) < 0)
        goto fail;
    if (c->tls && tls_connect(c, &io, why, sizeof why) < 0)
        goto fail;
    what = "request to";
    if (send_request(c, &io, method, path, body, with_key, why, sizeof why) < 0)
        goto fail;
    r.buf = malloc(r.cap);
    if (r.buf == NULL) {
        snprintf(why, sizeof why, "out of memory");
        goto fail;
    }
    if (read_response(&io, &r, &out->status, why, sizeof why) < 0)
        goto fail;
    io_close(&io);
    if (r.clen >= 0)
        r.len = r.hlen + (size_t)r.clen;
    memmove(r.buf, r.buf + r.hlen, r.len - r.hlen);
    r.buf[r.len - r.hlen] = '\0';
    out->body = r.buf;
    out->len = r.len - r.hlen;
    return 0;
fail:
    if (io.bound.timed_out)
        report_timeout(c, &io.bound, what);
    else
        fprintf(stderr, "curfew: %s %s: %s\n", what, c->url, why);
    free(r.buf);
    io_close(&io);
    out->status = 0;
    return -1;
}

/* --------------------------------------------------------------- helpers */

int cf_cli_fail_status(const cf_cli_conn_t *c, const cf_cli_resp_t *r, const char *not_found)
{
    json_t *doc = json_loadb(r->body ? r->body : "", r->len, 0, NULL);
    const char *desc = json_string_value(json_object_get(doc, "error_description"));
    const char *err = json_string_value(json_object_get(doc, "error"));

    if (r->status == 404 && not_found != NULL)
        desc = not_found;
    else if (r->status == 401)
        desc = "the server refused the admin key";
    else if (desc == NULL)
        desc = err != NULL ? err : "request failed";
    fprintf(stderr, "%s: %s (%d)\n", c->cmd, desc, r->status);
    json_decref(doc);
    return CF_CLI_EXIT_FAIL;
}

json_t *cf_cli_json(const cf_cli_conn_t *c, const cf_cli_resp_t *r)
{
    json_t *doc = json_loadb(r->body, r->len, 0, NULL);

    if (doc == NULL)
        fprintf(stderr, "%s: the server's answer is not JSON (%d)\n", c->cmd, r->status);
    return doc;
}

void cf_cli_print_json(json_t *v)
{
    json_dumpf(v, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', stdout);
}

int cf_cli_urlencode(const char *s, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(out);

    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (n + 4 > cap)
            return -1;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '_' || ch == '.' || ch == '~') {
            out[n++] = (char)ch;
        } else {
            out[n++] = '%';
            out[n++] = hex[ch >> 4];
            out[n++] = hex[ch & 15];
        }
    }
    out[n] = '\0';
    return 0;
}

int cf_cli_parse_time(const char *s, long long *out)
{
    struct tm tm;
    const char *p;
    char *end;
    long long t;
    int off = 0;

    if (*s >= '0' && *s <= '9' && strspn(s, "0123456789") == strlen(s) && strlen(s) <= 12) {
        *out = strtoll(s, NULL, 10);
        return 0;
    }
    memset(&tm, 0, sizeof tm);
    p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (p == NULL)
        p = strptime(s, "%Y-%m-%dt%H:%M:%S", &tm);
    if (p == NULL)
        return -1;
    if (*p == '.') { /* fractions are dropped: revocation is by the second */
        p++;
        if (strspn(p, "0123456789") == 0)
            return -1;
        p += strspn(p, "0123456789");
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
        long hh = strtol(p + 1, &end, 10), mm;
        if (end != p + 3)
            return -1;
        mm = strtol(p + 4, &end, 10);
        if (*end != '\0' || hh > 23 || mm > 59)
            return -1;
        off = (int)((hh * 60 + mm) * 60) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return -1;
    }
    if (*p != '\0')
        return -1;
    t = (long long)timegm(&tm);
    *out = t - off;
    return 0;
}

void cf_cli_format_left(long long secs, char *out, size_t cap)
{
    if (secs < 0)
        snprintf(out, cap, "-");
    else if (secs >= 86400)
        snprintf(out, cap, "%lldd%02lldh", secs / 86400, secs % 86400 / 3600);
    else if (secs >= 3600)
        snprintf(out, cap, "%lldh%02lldm", secs / 3600, secs % 3600 / 60);
    else if (secs >= 60)
        snprintf(out, cap, "%lldm%02llds", secs / 60, secs % 60);
    else
        snprintf(out, cap, "%llds", secs);
}

int cf_cli_common_opts(int argc, char **argv, const char *cmd, void (*usage)(FILE *),
                       cf_cli_opts_t *o)
{
    enum { OPT_SERVER = 256, OPT_KEY_FILE, OPT_JSON };
    static const struct option opts[] = {{"server", required_argument, NULL, OPT_SERVER},
                                         {"key-file", required_argument, NULL, OPT_KEY_FILE},
                                         {"json", no_argument, NULL, OPT_JSON},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int c;

    memset(o, 0, sizeof *o);
    optind = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_SERVER: o->server = optarg; break;
        case OPT_KEY_FILE: o->key_file = optarg; break;
        case OPT_JSON: o->json = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return CF_CLI_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", cmd, argv[optind]);
        return CF_CLI_EXIT_USAGE;
    }
    return -1;
}

int cf_cli_take_cacert(int argc, char **argv)
{
    int out = 1;

    for (int i = 1; i < argc; i++) {
        const char *v = NULL;

        if (strcmp(argv[i], "--") == 0) {
            while (i < argc)
                argv[out++] = argv[i++];
            break;
        }
        if (strcmp(argv[i], "--cacert") == 0 && i + 1 < argc)
            v = argv[++i];
        else if (strncmp(argv[i], "--cacert=", 9) == 0)
            v = argv[i] + 9;
        if (v != NULL)
            (void)setenv("CURFEW_CACERT", v, 1);
        else
            argv[out++] = argv[i];
    }
    argv[out] = NULL;
    return out;
}

json_t *cf_cli_call(const char *cmd, const cf_cli_opts_t *o, const char *method, const char *path,
                    const char *not_found, int *rc)
{
    cf_cli_conn_t conn;
    cf_cli_resp_t r;
    json_t *doc;

    *rc = cf_cli_conn_init(&conn, cmd, o->server, o->key_file);
    if (*rc != 0)
        return NULL;
    *rc = CF_CLI_EXIT_FAIL;
    if (cf_cli_http(&conn, method, path, NULL, 1, &r) < 0)
        return NULL;
    if (r.status != 200) {
        *rc = cf_cli_fail_status(&conn, &r, not_found);
        free(r.body);
        return NULL;
    }
    doc = cf_cli_json(&conn, &r);
    free(r.body);
    if (doc != NULL)
        *rc = 0;
    return doc;
}
