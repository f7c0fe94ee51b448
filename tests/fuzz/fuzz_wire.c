/* SPDX-License-Identifier: MIT
 *
 * libFuzzer target for the cluster wire format (store/wire.h): the JSON
 * batch every node publishes on the Redis bus and every other node decodes
 * (app/cluster.c hands each bus message and each replayed backlog entry to
 * cf_wire_decode). A node must survive any message another node, or anyone
 * who can PUBLISH on the Redis, sends: decode or refuse it whole, never
 * crash, leak or half-apply.
 *
 * Oracles: a refusal leaves the message empty and says why; what decodes
 * encodes again (cf_wire_encode, or cf_wire_encode_notice for a heartbeat
 * or key-set notice), that text decodes, and encoding it once more gives the
 * same bytes (every node reads exactly what the origin wrote).
 *
 * Build: make fuzz-build; run: scripts/fuzz-run.sh wire 600.
 * Seeds (tests/fuzz/corpus/wire): messages cf_wire_encode wrote for every
 * event kind the bus carries, heartbeats and key-set notices.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "store/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)         \
    do {                 \
        if (!(x))        \
            abort();     \
    } while (0)

static char *encode(const cf_wire_msg_t *m)
{
    if (m->heartbeat || m->keys)
        return cf_wire_encode_notice(m->node, m->ts_us, m->keys);
    return cf_wire_encode(m->node, m->ts_us, &m->ev, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cf_wire_msg_t m, back;
    char err[256];
    char *text1, *text2;

    err[0] = '\0';
    if (cf_wire_decode((const char *)data, size, &m, err, sizeof err) < 0) {
        CHECK(err[0] != '\0');
        CHECK(m.ev.n == 0);
        cf_wire_msg_fini(&m);
        return 0;
    }
    text1 = encode(&m);
    CHECK(text1 != NULL);
    if (cf_wire_decode(text1, strlen(text1), &back, err, sizeof err) < 0) {
        fprintf(stderr, "re-encoded message refused (%s):\n%s\n", err, text1);
        abort();
    }
    CHECK(strcmp(back.node, m.node) == 0 && back.ts_us == m.ts_us);
    CHECK(back.heartbeat == m.heartbeat && back.keys == m.keys);
    text2 = encode(&back);
    CHECK(text2 != NULL);
    if (strcmp(text1, text2) != 0) {
        fprintf(stderr, "round trip changed the message:\n%s\n%s\n", text1, text2);
        abort();
    }
    free(text1);
    free(text2);
    cf_wire_msg_fini(&back);
    cf_wire_msg_fini(&m);
    return 0;
}
