/* SPDX-License-Identifier: MIT
 *
 * The Redis store's connections (see redis_int.h): a libuv adapter for
 * hiredis, the command connection (set up with SELECT and the scripts) and
 * the subscription to the bus, and the timer that remakes whichever is down
 * and drops whichever cannot be trusted to come back by itself. The store is
 * freed here too, once it is closing and both connections and the timer are
 * gone. It sends no command of the store's own: redis.c does.
 */
#include "store/redis_int.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

/* ---- the libuv adapter ---- */

/*
 * hiredis's own libuv adapter (0.14, Debian 12) returns from its poll
 * callback on any libuv error without telling hiredis. libuv reports a
 * refused or timed-out connect, and a reset connection, as exactly such an
 * error (POLLERR -> UV_EBADF) and stops polling: the context then stays
 * "connecting" or "connected" forever and is never retried. This adapter
 * hands an error to hiredis as the events it waited for, so hiredis reads
 * the socket's error itself and fails the attempt or the connection through
 * its usual callbacks (what hiredis 1.x's adapter does).
 */
typedef struct {
    redisAsyncContext *ac; /* NULL once hiredis has cleaned up */
    uv_poll_t handle;
    int events;
} adapter_t;

static void adapter_poll(uv_poll_t *handle, int status, int events)
{
    adapter_t *p = handle->data;
    int ev = status < 0 ? p->events : events;

    if (p->ac != NULL && (ev & UV_READABLE))
        redisAsyncHandleRead(p->ac);
    if (p->ac != NULL && (ev & UV_WRITABLE))
        redisAsyncHandleWrite(p->ac);
    /* libuv stopped the handle on the error; hiredis may still want events. */
    if (status < 0 && p->ac != NULL && p->events != 0)
        uv_poll_start(&p->handle, p->events, adapter_poll);
}

static void adapter_set(adapter_t *p, int events)
{
    p->events = events;
    if (events != 0)
        uv_poll_start(&p->handle, events, adapter_poll);
    else
        uv_poll_stop(&p->handle);
}

static void adapter_add_read(void *d) { adapter_set(d, ((adapter_t *)d)->events | UV_READABLE); }
static void adapter_del_read(void *d) { adapter_set(d, ((adapter_t *)d)->events & ~UV_READABLE); }
static void adapter_add_write(void *d) { adapter_set(d, ((adapter_t *)d)->events | UV_WRITABLE); }
static void adapter_del_write(void *d) { adapter_set(d, ((adapter_t *)d)->events & ~UV_WRITABLE); }

static void adapter_closed(uv_handle_t *h)
{
    free(h->data);
}

static void adapter_cleanup(void *d)
{
    adapter_t *p = d;

    p->ac = NULL; /* the context is being freed */
    uv_close((uv_handle_t *)&p->handle, adapter_closed);
}

static int adapter_attach(redisAsyncContext *ac, uv_loop_t *loop)
{
    adapter_t *p;

    if (ac->ev.data != NULL || (p = calloc(1, sizeof *p)) == NULL)
        return REDIS_ERR;
    if (uv_poll_init(loop, &p->handle, ac->c.fd) != 0) {
        free(p);
        return REDIS_ERR;
    }
    p->ac = ac;
    p->handle.data = p;
    ac->ev.addRead = adapter_add_read;
    ac->ev.delRead = adapter_del_read;
    ac->ev.addWrite = adapter_add_write;
    ac->ev.delWrite = adapter_del_write;
    ac->ev.cleanup = adapter_cleanup;
    ac->ev.data = p;
    return REDIS_OK;
}

/* ---- connections ---- */

static void maybe_free(rd_t *st);
static void on_cmd_connect(const redisAsyncContext *ac, int status);
static void on_cmd_disconnect(const redisAsyncContext *ac, int status);
static void on_sub_connect(const redisAsyncContext *ac, int status);
static void on_sub_disconnect(const redisAsyncContext *ac, int status);
static void on_sub_message(redisAsyncContext *ac, void *r, void *arg);

static void on_setup_reply(redisAsyncContext *ac, void *r, void *arg)
{
    redisReply *reply = r;
    rd_t *st = ac->data;

    if (reply != NULL && reply->type == REDIS_REPLY_ERROR) {
        CF_LOG(CF_LOG_ERROR, "event=redis_error op=%s error=\"%s\"", (const char *)arg, reply->str);
        if (st != NULL && !st->closing)
            redisAsyncDisconnect(ac);
    }
}

/* The last set-up reply: from now on the connection has proven it serves. */
static void on_cmd_ready(redisAsyncContext *ac, void *r, void *arg)
{
    redisReply *reply = r;
    rd_t *st = ac->data;

    if (reply != NULL && reply->type != REDIS_REPLY_ERROR && st != NULL && st->cmd == ac) {
        st->cmd_ready = 1;
        st->last_reply_ms = uv_now(st->loop);
        CF_LOG(CF_LOG_INFO, "event=redis_connected conn=commands host=%s port=%d", st->url.host,
               st->url.port);
    }
    on_setup_reply(ac, r, arg);
}

static redisAsyncContext *connect_one(rd_t *st, void (*on_conn)(const redisAsyncContext *, int),
                                      void (*on_disc)(const redisAsyncContext *, int))
{
    redisAsyncContext *ac = redisAsyncConnect(st->url.host, st->url.port);

    if (ac == NULL)
        return NULL;
    if (ac->err) {
        redisAsyncFree(ac);
        return NULL;
    }
    ac->data = st;
    if (adapter_attach(ac, st->loop) != REDIS_OK) {
        redisAsyncFree(ac);
        return NULL;
    }
    redisAsyncSetConnectCallback(ac, on_conn);
    redisAsyncSetDisconnectCallback(ac, on_disc);
    if (st->url.password[0])
        redisAsyncCommand(ac, on_setup_reply, "auth", "AUTH %s", st->url.password);
    return ac;
}

static void connect_cmd(rd_t *st)
{
    st->cmd_since = uv_now(st->loop);
    st->cmd_ready = 0;
    st->cmd = connect_one(st, on_cmd_connect, on_cmd_disconnect);
    if (st->cmd == NULL)
        return;
    redisAsyncCommand(st->cmd, on_setup_reply, "select", "SELECT %d", st->url.db);
    redisAsyncCommand(st->cmd, on_setup_reply, "script_load", "SCRIPT LOAD %s", cf__redis_apply_script);
    redisAsyncCommand(st->cmd, on_setup_reply, "script_load", "SCRIPT LOAD %s", cf__redis_fetch_script);
    redisAsyncCommand(st->cmd, on_setup_reply, "script_load", "SCRIPT LOAD %s", cf__redis_keyset_script);
    redisAsyncCommand(st->cmd, on_setup_reply, "script_load", "SCRIPT LOAD %s", cf__redis_revoke_script);
    redisAsyncCommand(st->cmd, on_setup_reply, "script_load", "SCRIPT LOAD %s", cf__redis_refresh_script);
    redisAsyncCommand(st->cmd, on_setup_reply, "script_load", "SCRIPT LOAD %s",
                      cf__redis_apikey_revoke_script);
    redisAsyncCommand(st->cmd, on_cmd_ready, "ping", "PING");
}

static void connect_sub(rd_t *st)
{
    st->sub_since = uv_now(st->loop);
    st->sub = connect_one(st, on_sub_connect, on_sub_disconnect);
    if (st->sub == NULL)
        return;
    redisAsyncCommand(st->sub, on_sub_message, NULL, "SUBSCRIBE %s", st->channel);
}

static void on_cmd_connect(const redisAsyncContext *ac, int status)
{
    rd_t *st = ac->data;

    if (status != REDIS_OK) {
        st->cmd = NULL; /* hiredis frees it */
        maybe_free(st);
        return;
    }
    st->cmd_up = 1;
    st->last_reply_ms = uv_now(st->loop);
}

static void on_cmd_disconnect(const redisAsyncContext *ac, int status)
{
    rd_t *st = ac->data;

    if (st->cmd_ready && !st->closing)
        CF_LOG(CF_LOG_WARN, "event=redis_disconnected conn=commands");
    st->cmd = NULL;
    st->cmd_up = 0;
    st->cmd_ready = 0;
    st->pending = 0;
    maybe_free(st);
}

static void on_sub_connect(const redisAsyncContext *ac, int status)
{
    rd_t *st = ac->data;

    if (status != REDIS_OK) {
        st->sub = NULL;
        maybe_free(st);
        return;
    }
    st->sub_connected = 1;
}

static void on_sub_disconnect(const redisAsyncContext *ac, int status)
{
    rd_t *st = ac->data;
    int was_up = st->sub_up;

    st->sub = NULL;
    st->sub_up = 0;
    st->sub_connected = 0;
    if (was_up && !st->closing) {
        CF_LOG(CF_LOG_WARN, "event=redis_disconnected conn=bus");
        if (st->bus.link != NULL)
            st->bus.link(st->bus.ctx, 0);
    }
    maybe_free(st);
}

static void on_sub_message(redisAsyncContext *ac, void *r, void *arg)
{
    redisReply *reply = r;
    rd_t *st = ac->data;

    if (reply != NULL && reply->type == REDIS_REPLY_ERROR && !st->closing) {
        /* SUBSCRIBE refused (an ACL, say): drop the link; the timer retries. */
        CF_LOG(CF_LOG_ERROR, "event=redis_error op=subscribe error=\"%s\"", reply->str);
        redisAsyncDisconnect(ac);
        return;
    }
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3 || st->closing)
        return;
    st->last_bus_ms = uv_now(st->loop);
    if (reply->element[0]->type != REDIS_REPLY_STRING)
        return;
    if (strcmp(reply->element[0]->str, "subscribe") == 0) {
        st->sub_up = 1;
        CF_LOG(CF_LOG_INFO, "event=redis_connected conn=bus channel=%s", st->channel);
        if (st->bus.link != NULL)
            st->bus.link(st->bus.ctx, 1);
        /* The link callback may have resynchronised for a while: silence counts from now. */
        uv_update_time(st->loop);
        st->last_bus_ms = uv_now(st->loop);
    } else if (strcmp(reply->element[0]->str, "message") == 0 &&
               reply->element[2]->type == REDIS_REPLY_STRING) {
        if (st->bus.message != NULL)
            st->bus.message(st->bus.ctx, reply->element[2]->str, reply->element[2]->len);
    }
}

void cf__redis_free(rd_t *st)
{
    OPENSSL_cleanse(st->url.password, sizeof st->url.password);
    free(st);
}

/* Freed once closing, with the timer and both connections gone. */
static void maybe_free(rd_t *st)
{
    if (st->closing && st->timer_closed && st->cmd == NULL && st->sub == NULL)
        cf__redis_free(st);
}

static void on_timer_closed(uv_handle_t *h)
{
    rd_t *st = h->data;

    st->timer_closed = 1;
    maybe_free(st);
}

/*
 * Drop @ac, which is st->cmd or st->sub, so that the timer makes a new one.
 * hiredis reports the end of a connection it made through the disconnect
 * callback (which clears the state); an attempt that never connected it
 * frees silently, so it is forgotten here first. Commands still queued are
 * answered with no reply (a failure) either way.
 */
static void abandon(rd_t *st, redisAsyncContext *ac)
{
    if (!(ac->c.flags & REDIS_CONNECTED)) {
        if (st->cmd == ac)
            st->cmd = NULL;
        else
            st->sub = NULL;
    }
    redisAsyncFree(ac);
}

#define RD_TICK_MS 100     /* how often the timer looks */
#define RD_HUNG_MS 2000    /* a command unanswered this long: the connection is dead */

/*
 * Every RD_TICK_MS: make what is down, and drop what cannot be trusted to
 * come back by itself, so that every kind of loss leads back to a new
 * connection:
 *  - an attempt (connect plus set-up, or connect plus SUBSCRIBE) not answered
 *    within attempt_ms: a SYN into a partition is otherwise retried by the
 *    kernel for about two minutes, and one into a full listen queue as long;
 *  - a command connection with a command unanswered for RD_HUNG_MS (a hung
 *    Redis, or a peer gone without a FIN): failing it answers its requests;
 *  - a subscription silent for silence_ms although every node publishes a
 *    heartbeat more often: a connection whose peer vanished never learns it
 *    by itself, since a subscriber sends nothing.
 * After the loop was blocked (a long resynchronisation), replies may wait
 * unread in the sockets while the timer runs first: judge nothing on that tick.
 */
static void on_timer(uv_timer_t *t)
{
    rd_t *st = t->data;
    uint64_t now = uv_now(st->loop), attempt = st->bus.attempt_ms ? st->bus.attempt_ms : 1000;
    int blocked = now - st->last_tick_ms > 3 * RD_TICK_MS;

    st->last_tick_ms = now;
    if (st->closing || blocked)
        return;
    if (st->cmd != NULL && !st->cmd_ready && now - st->cmd_since > attempt) {
        CF_LOG(CF_LOG_WARN, "event=redis_timeout conn=commands what=connect ms=%llu",
               (unsigned long long)(now - st->cmd_since));
        abandon(st, st->cmd);
    } else if (st->cmd != NULL && st->cmd_up && st->pending > 0 &&
               now - st->last_reply_ms > RD_HUNG_MS) {
        CF_LOG(CF_LOG_WARN, "event=redis_timeout conn=commands pending=%llu",
               (unsigned long long)st->pending);
        abandon(st, st->cmd);
    }
    if (st->sub != NULL && !st->sub_up && now - st->sub_since > attempt) {
        CF_LOG(CF_LOG_WARN, "event=redis_timeout conn=bus what=subscribe ms=%llu",
               (unsigned long long)(now - st->sub_since));
        abandon(st, st->sub);
    } else if (st->sub != NULL && st->sub_up && st->bus.silence_ms > 0 &&
               now - st->last_bus_ms > st->bus.silence_ms) {
        CF_LOG(CF_LOG_WARN, "event=redis_timeout conn=bus what=silence ms=%llu",
               (unsigned long long)(now - st->last_bus_ms));
        abandon(st, st->sub);
    }
    if (st->cmd == NULL)
        connect_cmd(st);
    if (st->sub == NULL)
        connect_sub(st);
}

void cf__redis_conn_start(rd_t *st)
{
    uv_timer_init(st->loop, &st->timer);
    st->timer.data = st;
    uv_unref((uv_handle_t *)&st->timer);
    st->last_tick_ms = uv_now(st->loop);
    connect_cmd(st);
    connect_sub(st);
    uv_timer_start(&st->timer, on_timer, RD_TICK_MS, RD_TICK_MS);
}

void cf__redis_close(cf_store_t *base, cf_store_stats_t *final)
{
    rd_t *st = (rd_t *)base;

    if (final != NULL)
        *final = st->stats;
    st->closing = 1;
    /*
     * A connected context is disconnected gracefully: queued commands finish
     * first, then it frees itself and says so in the disconnect callback.
     * hiredis calls that callback only for connections that were made, so a
     * context still connecting is freed here (its callbacks see no reply).
     */
    if (st->cmd != NULL && st->cmd_up) {
        redisAsyncDisconnect(st->cmd);
    } else if (st->cmd != NULL) {
        redisAsyncContext *ac = st->cmd;
        st->cmd = NULL;
        redisAsyncFree(ac);
    }
    if (st->sub != NULL && st->sub_connected) {
        redisAsyncDisconnect(st->sub);
    } else if (st->sub != NULL) {
        redisAsyncContext *ac = st->sub;
        st->sub = NULL;
        redisAsyncFree(ac);
    }
    uv_timer_stop(&st->timer);
    uv_close((uv_handle_t *)&st->timer, on_timer_closed);
}
