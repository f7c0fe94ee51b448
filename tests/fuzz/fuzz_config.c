/* SPDX-License-Identifier: MIT
 *
 * libFuzzer target for the config loader: cf_config_load_buffer() over
 * arbitrary bytes. Any input must load or fail cleanly, never crash, leak or
 * read out of bounds; a failure must leave the struct untouched and write a
 * message; and whatever loads must survive dump -> load unchanged (the dump
 * is the same text both times).
 *
 * Everything a load allocates (policy, lists, the parse itself) is freed
 * here with cf_config_fini(), so ASan's leak checker judges the loader, not
 * the harness.
 *
 * Build: make fuzz-build (build-fuzz/tests/fuzz/fuzz_config); run:
 *   scripts/fuzz-run.sh config 600
 * Seeds (tests/fuzz/corpus/config): the shipped and documented configs and
 * the YAML of tests/unit/test_config.c.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Dump @cfg into a fresh heap string (*@len bytes); abort on failure. */
static char *dump(const cf_config_t *cfg, size_t *len)
{
    char *text = NULL;
    FILE *f = open_memstream(&text, len);

    if (f == NULL)
        abort();
    cf_config_dump(cfg, f);
    if (fclose(f) != 0)
        abort();
    return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cf_config_t cfg, before, back;
    char err[512];
    char *text1 = NULL, *text2 = NULL;
    size_t len1 = 0, len2 = 0;
    int rc, back_loaded = 0;

    cf_config_defaults(&cfg);
    before = cfg;
    err[0] = '\0';
    rc = cf_config_load_buffer((const char *)data, size, "fuzz.yaml", &cfg, err, sizeof err);
    if (rc < 0) {
        if (rc != CF_ECONFIG && rc != CF_ENOMEM)
            abort();
        if (strncmp(err, "fuzz.yaml:", 10) != 0)
            abort(); /* every message names the file */
        text1 = dump(&before, &len1);
        text2 = dump(&cfg, &len2);
        if (len1 != len2 || memcmp(text1, text2, len1) != 0)
            abort(); /* a failed load changed the config */
        goto done;
    }
    (void)cf_config_validate(&cfg, err, sizeof err); /* either answer is fine; must not crash */

    text1 = dump(&cfg, &len1);
    cf_config_defaults(&back);
    back_loaded = 1;
    rc = cf_config_load_buffer(text1, len1, "dump.yaml", &back, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "dump does not load back: %s\n%s", err, text1);
        abort();
    }
    text2 = dump(&back, &len2);
    if (len1 != len2 || memcmp(text1, text2, len1) != 0) {
        fprintf(stderr, "round trip changed the config:\n%s---\n%s", text1, text2);
        abort();
    }
done:
    free(text1);
    free(text2);
    /* @before is a plain copy of the defaults (it borrows nothing a load made),
     * so only @cfg and @back own memory. */
    cf_config_fini(&cfg);
    if (back_loaded)
        cf_config_fini(&back);
    return 0;
}
