/* SPDX-License-Identifier: MIT
 *
 * GET /v1/sessions: the sessions the index holds, newest first, a page at a
 * time. Pages follow the index's creation order by cursor, so a listing of a
 * million sessions costs its page, not the million: a subject's sessions
 * come from the subject's list, a client's from the client's list while that
 * list is short, else from the creation order filtered on the (interned)
 * client, looking at a bounded number of sessions per request.
 *
 * The cursor is "<created_at ms>.<session id>" of the last session of the
 * page; the next page holds the sessions strictly older than it (ties broken
 * by id), so a session present for the whole listing is listed once. The
 * answer carries "next_cursor" only when another page may follow.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/session_text.h"

#define LIST_SCAN_BUDGET 200000 /* sessions looked at per request, at most */
#define LIST_SORT_MAX 20000     /* a subject's or client's list this short is sorted whole */

typedef struct {
    char sub[256], client[128];
    int has_sub, has_client, has_cursor;
    long limit;
    cf_index_cursor_t cursor;
} list_query_t;

static int parse_cursor(const char *s, cf_index_cursor_t *c)
{
    size_t len = strlen(s);
    long long ms = 0;

    /* At most 15 digits of milliseconds (year 33658): no overflow to think about. */
    if (len < CF_SID_LEN + 2 || len > CF_SID_LEN + 1 + 15 || s[len - CF_SID_LEN - 1] != '.')
        return -1;
    for (size_t i = 0; i < len - CF_SID_LEN - 1; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        ms = ms * 10 + (s[i] - '0');
    }
    for (size_t i = len - CF_SID_LEN; i < len; i++)
        if (!(s[i] >= 'A' && s[i] <= 'Z') && !(s[i] >= 'a' && s[i] <= 'z') &&
            !(s[i] >= '0' && s[i] <= '9') && s[i] != '-' && s[i] != '_')
            return -1;
    c->created_at = (cf_time_t)ms;
    memcpy(c->id, s + len - CF_SID_LEN, CF_SID_LEN + 1);
    return 0;
}

static const char *parse_query(const cf_http_req_t *req, list_query_t *q)
{
    char limit_s[16], cursor_s[64];
    int n, nc;

    memset(q, 0, sizeof *q);
    q->limit = 100;
    q->has_sub = cf_form_get(req->query, req->query_len, "sub", q->sub, sizeof q->sub);
    q->has_client = cf_form_get(req->query, req->query_len, "client_id", q->client, sizeof q->client);
    n = cf_form_get(req->query, req->query_len, "limit", limit_s, sizeof limit_s);
    nc = cf_form_get(req->query, req->query_len, "cursor", cursor_s, sizeof cursor_s);
    if (q->has_sub < -1 || q->has_client < -1 || n < -1 || nc < -1)
        return "query parameters sub, client_id, limit and cursor must be given once and percent-encoded";
    if (n >= 0) {
        char *end;
        q->limit = strtol(limit_s, &end, 10);
        if (*end != '\0' || q->limit < 1 || q->limit > 10000)
            return "limit: expected an integer from 1 to 10000";
    }
    q->has_cursor = nc >= 0;
    if (q->has_cursor && parse_cursor(cursor_s, &q->cursor) < 0)
        return "cursor: expected the next_cursor of a previous page";
    return NULL;
}

/* Newest first: descending (created_at, id), the index's order reversed. */
static int by_created_desc(const void *a, const void *b)
{
    const cf_session_t *x = *(const cf_session_t *const *)a, *y = *(const cf_session_t *const *)b;

    if (x->created_at != y->created_at)
        return x->created_at < y->created_at ? 1 : -1;
    return -strcmp(x->id, y->id);
}

/* 1 when @s comes after the cursor in the listing's order. */
static int after_cursor(const list_query_t *q, const cf_session_t *s)
{
    if (!q->has_cursor)
        return 1;
    if (s->created_at != q->cursor.created_at)
        return s->created_at < q->cursor.created_at;
    return strcmp(s->id, q->cursor.id) < 0;
}

/* A short list (one subject's or client's): gather, sort, cut. */
static size_t from_list(const cf_index_t *ix, const list_query_t *q, cf_session_t *head, int by_sub,
                        cf_session_t **v, size_t *total, int *more)
{
    size_t n = 0, m = 0;

    for (cf_session_t *s = head; s != NULL;
         s = by_sub ? cf_index_sub_next(ix, s) : cf_index_cli_next(ix, s)) {
        if (by_sub && q->has_client >= 0 && strcmp(cf_session_client_id(s), q->client) != 0)
            continue;
        m++;
        if (after_cursor(q, s))
            v[n++] = s;
    }
    qsort(v, n, sizeof *v, by_created_desc);
    *total = m;
    *more = n > (size_t)q->limit;
    return *more ? (size_t)q->limit : n;
}

static int same_client(void *arg, const cf_session_t *s)
{
    return cf_session_client_id(s) == (const char *)arg; /* interned: one pointer per client */
}

static char *cursor_text(cf_time_t created_at, const char *id, char *buf, size_t cap)
{
    snprintf(buf, cap, "%lld.%s", (long long)created_at, id);
    return buf;
}

/* The page as jansson would write it, built in jansson (the fallback). */
static void reply_page_json(cf_app_t *app, cf_http_req_t *req, cf_session_t **v, size_t n,
                            size_t total, const char *next, cf_time_t now)
{
    json_t *arr = json_array(), *o;

    for (size_t i = 0; arr != NULL && i < n; i++)
        json_array_append_new(arr, cf_app_session_json(app, v[i], now));
    o = json_pack("{s:o, s:I}", "sessions", arr, "total", (json_int_t)total);
    if (o != NULL && next != NULL) /* only when there is a next page */
        json_object_set_new(o, "next_cursor", json_string(next));
    cf_reply_json(req, 200, o, NULL, 0);
}

/*
 * The page written straight into one buffer (core/session_text.h): the same
 * bytes as reply_page_json(), without the thirty-odd allocations per session
 * that made a page of 100 the longest turn of the loop at a million sessions.
 */
static void reply_page(cf_app_t *app, cf_http_req_t *req, cf_session_t **v, size_t n,
                       size_t total, const char *next)
{
    cf_time_t now = cf_app_now(app);
    size_t cap = 128 + (next != NULL ? cf_jsonw_str_max(strlen(next)) : 0);
    cf_jsonw_t w;
    char *buf;

    for (size_t i = 0; i < n; i++)
        cap += cf_session_text_max(v[i]) + 1;
    if ((buf = malloc(cap)) == NULL) {
        reply_page_json(app, req, v, n, total, next, now);
        return;
    }
    cf_jsonw_init(&w, buf, cap);
    cf_jsonw_raw(&w, "{\"sessions\":[", 13);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            cf_jsonw_raw(&w, ",", 1);
        cf_session_text(&w, v[i], now);
    }
    cf_jsonw_raw(&w, "],\"total\":", 10);
    cf_jsonw_int(&w, (int64_t)total);
    if (next != NULL) {
        cf_jsonw_raw(&w, ",\"next_cursor\":", 15);
        cf_jsonw_str(&w, next);
    }
    cf_jsonw_raw(&w, "}", 1);
    if (w.err == 0)
        cf_reply_json_text(req, 200, w.buf, w.len, NULL, 0);
    else /* a string jansson would have left out: its answer, exactly */
        reply_page_json(app, req, v, n, total, next, now);
    free(buf);
}

void cf_api_sessions_list(cf_app_t *app, cf_http_req_t *req)
{
    list_query_t q;
    const char *bad;
    cf_subject_t *subj = NULL;
    cf_group_t *cli = NULL;
    cf_session_t **v;
    size_t n = 0, total = 0, cap;
    char next[64], *nextp = NULL;
    int more = 0;

    if (!cf_req_require_admin(app, req))
        return;
    if ((bad = parse_query(req, &q)) != NULL) {
        cf_reply_refusal(req, CF_ENDPOINT_API, CF_REASON_INVALID_REQUEST, bad, NULL, 0);
        return;
    }
    if (q.has_sub >= 0)
        subj = cf_app_subject(app, q.sub);
    else if (q.has_client >= 0)
        cli = cf_app_client(app, q.client);
    cap = subj != NULL ? subj->count : cli != NULL && cli->count <= LIST_SORT_MAX ? cli->count : 0;
    v = malloc((cap > (size_t)q.limit ? cap : (size_t)q.limit) * sizeof *v + 1);
    if (v == NULL) {
        cf_reply_refusal(req, CF_ENDPOINT_API, CF_REASON_SERVER_ERROR, "out of memory", NULL, 0);
        return;
    }
    if (subj != NULL || (cli != NULL && cli->count <= LIST_SORT_MAX)) {
        n = from_list(app->index, &q, subj != NULL ? subj->head : cli->head, subj != NULL, v,
                      &total, &more);
        if (more)
            nextp = cursor_text(v[n - 1]->created_at, v[n - 1]->id, next, sizeof next);
    } else if (cli != NULL || (q.has_sub < 0 && q.has_client < 0)) {
        cf_index_cursor_t nc;
        n = cf_index_list(app->index, q.has_cursor ? &q.cursor : NULL, cli ? same_client : NULL,
                          cli ? cli->name : NULL, v, (size_t)q.limit, LIST_SCAN_BUDGET, &nc, &more);
        total = cli != NULL ? cli->count : cf_app_session_count(app);
        if (more)
            nextp = cursor_text(nc.created_at, nc.id, next, sizeof next);
    }
    reply_page(app, req, v, n, total, nextp);
    free(v);
}
