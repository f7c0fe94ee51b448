/* SPDX-License-Identifier: MIT
 *
 * Library-internal: the socket-free request reader and response encoder,
 * shared by the server's connections (conn.c) and the fuzzer (tests/fuzz/fuzz_http.c).
 * Not for handlers, which see only http/server.h. The reader decides when a
 * byte stream holds a complete, acceptable HTTP/1.1 request and which error
 * status answers one that is not; the encoder decides the bytes of a
 * response. Neither touches a socket, a clock or the log, and neither may
 * ever crash, or allocate past the configured caps, on client input.
 */
#ifndef CF_HTTP_RX_H
#define CF_HTTP_RX_H

#include <http_parser.h>
#include <stddef.h>
#include <time.h>
#include <stdint.h>

#include "http/server.h"

#define DEFAULT_MAX_HEADER 8192
#define DEFAULT_MAX_BODY 16384
#define LIMIT_MAX ((size_t)1 << 28) /* keeps buffer offsets in uint32_t */

typedef struct cf__http_rx cf__http_rx_t;

enum {
    CF__HTTP_RX_AGAIN = 0,    /* need more bytes */
    CF__HTTP_RX_REQUEST = 1,  /* a complete request was stored in *req */
    CF__HTTP_RX_CONTINUE = 2, /* headers ask "Expect: 100-continue" and the body is not here yet */
    CF__HTTP_RX_ERROR = -1,   /* malformed or over a limit; see cf__http_rx_error() */
};

/**
 * Allocate a reader with the given caps (0 = defaults, as in
 * cf_http_config_t). Returns 0 or CF_ENOMEM. Free with cf__http_rx_free().
 */
int cf__http_rx_new(size_t max_header_bytes, size_t max_body_bytes, cf__http_rx_t **out);

/** Free @rx; NULL is a no-op. */
void cf__http_rx_free(cf__http_rx_t *rx);

/**
 * Free space at the end of the input buffer in *p / *n. If the buffer is full
 * and @may_grow, it is grown (up to its cap) first; pass 0 while a request
 * from this reader is outstanding, since growing moves the buffer. *n may be 0.
 */
void cf__http_rx_space(cf__http_rx_t *rx, int may_grow, char **p, size_t *n);

/** Record that @n bytes were written at the pointer from cf__http_rx_space(). */
void cf__http_rx_commit(cf__http_rx_t *rx, size_t n);

/**
 * Parse buffered bytes until a request is complete, more bytes are needed,
 * or an error. On CF__HTTP_RX_REQUEST, fills the parse fields of @req
 * (method .. keep_alive, http_major/minor; not peer_ip, user, cf__conn),
 * pointing into the buffer; call cf__http_rx_done() once finished with it,
 * before calling this again. Errors are sticky.
 */
int cf__http_rx_next(cf__http_rx_t *rx, cf_http_req_t *req);

/** Drop the request returned last, keeping any pipelined bytes after it. */
void cf__http_rx_done(cf__http_rx_t *rx);

/** Bytes held that belong to a request not yet complete (0 when idle). */
size_t cf__http_rx_pending_bytes(const cf__http_rx_t *rx);

/**
 * After CF__HTTP_RX_ERROR: the status to answer (400, 408, 411, 413, 431,
 * 505), the OAuth-style error code and a precise description (valid while
 * @rx lives).
 */
void cf__http_rx_error(const cf__http_rx_t *rx, int *status, const char **error, const char **desc);

/** The Date header value for now, cached in @date (32 bytes) for the second in @date_sec. */
const char *cf__http_date(char date[32], time_t *date_sec);

/**
 * Encode a complete response into @dst (capacity @cap). Returns the number of
 * bytes the response needs; it was written only if that is <= @cap (like
 * snprintf). Returns 0 if a header is invalid (see cf_http_respond()) or
 * @status is outside 100..999. @date is the preformatted IMF-fixdate;
 * @head_only drops the body (HEAD). @dst may be NULL when @cap is 0.
 */
size_t cf__http_encode_response(char *dst, size_t cap, int status, const cf_http_header_t *headers,
                                size_t nheaders, const char *body, size_t body_len, const char *date,
                                int keep_alive, int head_only);

/* ------------------------------------------------------------------------
 * The reader's state, public to the server so that a connection can embed
 * it (cf__http_rx_init()) instead of allocating it (cf__http_rx_new()).
 * Only rx.c reads or writes its fields.
 * ------------------------------------------------------------------------ */

typedef struct {
    uint32_t name_off, name_len, value_off, value_len;
} span_hdr_t;

/*
 * Why one contiguous buffer and offsets: http-parser is a streaming parser
 * that reports pieces of the URL, header names and values as pointers into
 * whatever it was fed. Feeding it consecutive slices of one buffer makes the
 * pieces of one item adjacent, so an item is just (offset, length) and the
 * request can point into the buffer without copying. Chunked bodies are
 * compacted in place: each body piece is moved down to follow the previous
 * one, over framing bytes already parsed, and the unparsed tail is moved down
 * after each parse step, so framing never eats into the caps. Offsets rather
 * than pointers survive the buffer growing; it never grows while a request
 * points into it.
 */
struct cf__http_rx {
    http_parser parser;
    char *buf;
    size_t len;     /* bytes held */
    size_t cap;     /* allocated */
    size_t cap_max; /* max_header + max_body + RX_SLACK */
    size_t parsed;  /* bytes consumed by the parser; the request starts at 0 */
    size_t max_header, max_body;

    /* the request being read */
    size_t url_off, url_len;
    span_hdr_t hdr[CF_HTTP_MAX_HEADERS];
    size_t nhdr;
    int last_cb;
    size_t hdr_end; /* offset of the first body byte */
    size_t body_len;
    unsigned begun : 1, headers_done : 1, checked : 1, msg_done : 1;

    /* sticky error */
    int err_status;
    const char *err_desc;
    char err_buf[96];
};

/**
 * Initialise the reader embedded at @rx with the given caps (0 = defaults,
 * as in cf_http_config_t). Returns 0, CF_EINVAL (a cap over LIMIT_MAX) or
 * CF_ENOMEM; on error nothing needs freeing. Release with cf__http_rx_fini().
 * Any thread, but one reader is used by one thread at a time.
 */
int cf__http_rx_init(cf__http_rx_t *rx, size_t max_header, size_t max_body);

/** Free the buffer of a reader set up by cf__http_rx_init(); @rx itself is the caller's. */
void cf__http_rx_fini(cf__http_rx_t *rx);

/**
 * Write the error body the server answers with @status into @dst (capacity
 * @cap): {"error", "error_description": @desc escaped and cut to fit,
 * "reason"}, the error and reason looked up by status (400's for an unknown
 * one). Returns its length, or 0 if it does not fit. Pure; safe from any thread.
 */
size_t cf__http_json_error(char *dst, size_t cap, int status, const char *desc);

/** "Content-Type: application/json", the header every error body above goes with. */
extern const cf_http_header_t cf__http_json_type;

/**
 * The headers of the server's own error answer for @status into @h: the
 * Content-Type above and X-Curfew-Reason, the body's reason (a proxy in front
 * sees only headers; the API's refusals carry it too). Returns 2.
 */
size_t cf__http_error_headers(cf_http_header_t h[2], int status);

#endif /* CF_HTTP_RX_H */
