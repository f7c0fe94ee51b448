/* SPDX-License-Identifier: MIT
 *
 * What a DPoP proof check costs beyond its signature verification, per core
 * (issue 14 Done-when 4). For ES256 and EdDSA: N proofs, each with its own
 * jti, made here with one key, go through cf_dpop_verify (the whole proof
 * check: parse, jwk, signature, thumbprint, htm/htu/iat/ath) with a key
 * cache, as the server's, and without one (every proof's key imported);
 * and, in alternating blocks so that load from other processes hits all
 * alike, N raw EVP_DigestVerify calls over the same messages with the key
 * imported once and SHA-256 fetched once (what `openssl speed` measures,
 * plus hashing the message). Rates are per CPU-second of this thread; the
 * ratio (raw time / cf_dpop_verify time) is the one the goal is about.
 *
 *     build/dpop_verify_bench [N]     (N proofs per algorithm, default 20000)
 *
 * A proof that cf_dpop_verify refuses aborts the run: a fast wrong answer is
 * no measurement.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "core/b64url.h"
#include "core/digest.h"
#include "core/dpop.h"

#define BLOCK 500
#define HTU "https://bench.example/api/items"
#define TOKEN "bench-access-token"

typedef struct {
    char *proof;  /* header.payload.signature */
    size_t signed_len;
    uint8_t der[80]; /* the signature as EVP_DigestVerify takes it */
    size_t der_len;
} proof_t;

static void die(const char *what)
{
    fprintf(stderr, "dpop_verify_bench: %s\n", what);
    exit(1);
}

static double cpu_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *b64(const uint8_t *p, size_t n)
{
    char *s = malloc(cf_b64url_encoded_len(n) + 1);

    if (s == NULL)
        die("out of memory");
    cf_b64url_encode(p, n, s);
    return s;
}

/* The jwk of @pk's public half, as the header carries it. */
static void jwk_of(EVP_PKEY *pk, int es, char *out, size_t cap)
{
    uint8_t pub[65];
    size_t n = sizeof pub;
    char *x, *y;

    if (es) {
        if (EVP_PKEY_get_octet_string_param(pk, "encoded-pub-key", pub, sizeof pub, &n) != 1 || n != 65)
            die("no P-256 point");
        x = b64(pub + 1, 32), y = b64(pub + 33, 32);
        snprintf(out, cap, "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}", x, y);
        free(y);
    } else {
        if (EVP_PKEY_get_raw_public_key(pk, pub, &n) != 1 || n != 32)
            die("no Ed25519 key");
        x = b64(pub, 32);
        snprintf(out, cap, "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\"}", x);
    }
    free(x);
}

static void make(EVP_PKEY *pk, int es, const char *hdr, int64_t now, int i, proof_t *p)
{
    char claims[512], msg[2048], *pay, *sig;
    uint8_t h[CF_SHA256_LEN], raw[64];
    unsigned char *der = p->der;
    size_t slen = sizeof p->der;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    char *ath;

    cf_sha256(TOKEN, strlen(TOKEN), h);
    ath = b64(h, sizeof h);
    snprintf(claims, sizeof claims,
             "{\"jti\":\"bench-%d\",\"htm\":\"GET\",\"htu\":\"" HTU "\",\"iat\":%lld,\"ath\":\"%s\"}",
             i, (long long)now, ath);
    pay = b64((const uint8_t *)claims, strlen(claims));
    snprintf(msg, sizeof msg, "%s.%s", hdr, pay);
    if (md == NULL || EVP_DigestSignInit(md, NULL, es ? EVP_sha256() : NULL, NULL, pk) != 1 ||
        EVP_DigestSign(md, der, &slen, (const unsigned char *)msg, strlen(msg)) != 1)
        die("signing failed");
    p->der_len = slen;
    if (es) { /* JWS wants r||s */
        const unsigned char *q = der;
        ECDSA_SIG *e = d2i_ECDSA_SIG(NULL, &q, (long)slen);

        if (e == NULL || BN_bn2binpad(ECDSA_SIG_get0_r(e), raw, 32) != 32 ||
            BN_bn2binpad(ECDSA_SIG_get0_s(e), raw + 32, 32) != 32)
            die("bad ECDSA signature");
        ECDSA_SIG_free(e);
        sig = b64(raw, 64);
    } else {
        sig = b64(der, slen);
    }
    p->signed_len = strlen(msg);
    p->proof = malloc(strlen(msg) + strlen(sig) + 2);
    if (p->proof == NULL)
        die("out of memory");
    sprintf(p->proof, "%s.%s", msg, sig);
    EVP_MD_CTX_free(md);
    free(ath);
    free(pay);
    free(sig);
}

static void run_curfew(const proof_t *p, int n, int64_t now, cf_dpop_keys_t *keys)
{
    cf_dpop_proof_t out;
    const char *why;

    for (int i = 0; i < n; i++) {
        cf_dpop_input_t in = {
            .proof = p[i].proof, .proof_len = strlen(p[i].proof),
            .htm = "GET", .htm_len = 3, .htu = HTU, .htu_len = strlen(HTU),
            .access_token = TOKEN, .at_len = strlen(TOKEN),
            .now = now, .window = 3600, .leeway = 5, .keys = keys,
        };
        if (cf_dpop_verify(&in, &out, &why) != CF_REASON_NONE) {
            fprintf(stderr, "proof %d refused: %s\n", i, why);
            exit(1);
        }
    }
}

/* What `openssl speed` does per verification: the key imported once. */
static void run_raw(EVP_PKEY *pub, int es, const proof_t *p, int n)
{
    for (int i = 0; i < n; i++) {
        EVP_MD_CTX *md = EVP_MD_CTX_new();

        if (md == NULL || EVP_DigestVerifyInit(md, NULL, es ? cf_sha256_md() : NULL, NULL, pub) != 1 ||
            EVP_DigestVerify(md, p[i].der, p[i].der_len, (const unsigned char *)p[i].proof,
                             p[i].signed_len) != 1)
            die("raw verify failed");
        EVP_MD_CTX_free(md);
    }
}

static void bench(const char *alg, int n)
{
    int es = strcmp(alg, "ES256") == 0;
    EVP_PKEY *pk = es ? EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256") : EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    EVP_PKEY *pub = NULL;
    char jwk[256], hdrjson[512], *hdr;
    unsigned char *spki = NULL;
    const unsigned char *q;
    int64_t now = (int64_t)time(NULL);
    proof_t *p = calloc((size_t)n, sizeof *p);
    double t0, tc = 0, tr = 0, tn = 0;
    cf_dpop_keys_t *keys = cf_dpop_keys_new(1024); /* as the server holds one */
    int len;

    if (pk == NULL || p == NULL || keys == NULL)
        die("keygen failed");
    /* The raw side verifies with a public-only key, as a server would hold. */
    len = i2d_PUBKEY(pk, &spki);
    q = spki;
    if (len <= 0 || (pub = d2i_PUBKEY(NULL, &q, len)) == NULL)
        die("no public key");
    jwk_of(pk, es, jwk, sizeof jwk);
    snprintf(hdrjson, sizeof hdrjson, "{\"typ\":\"dpop+jwt\",\"alg\":\"%s\",\"jwk\":%s}", alg, jwk);
    hdr = b64((const uint8_t *)hdrjson, strlen(hdrjson));
    for (int i = 0; i < n; i++)
        make(pk, es, hdr, now, i, &p[i]);
    run_curfew(p, n < BLOCK ? n : BLOCK, now, keys); /* warm the paths up */
    run_curfew(p, n < BLOCK ? n : BLOCK, now, NULL);
    run_raw(pub, es, p, n < BLOCK ? n : BLOCK);
    for (int i = 0; i < n; i += BLOCK) {
        int k = n - i < BLOCK ? n - i : BLOCK;

        t0 = cpu_now();
        run_curfew(p + i, k, now, keys);
        tc += cpu_now() - t0;
        t0 = cpu_now();
        run_curfew(p + i, k, now, NULL);
        tn += cpu_now() - t0;
        t0 = cpu_now();
        run_raw(pub, es, p + i, k);
        tr += cpu_now() - t0;
    }
    printf("%-5s  cf_dpop_verify %6.0f/s (no key cache %6.0f/s)  raw EVP_DigestVerify %6.0f/s  "
           "ratio %.3f (no key cache %.3f)  [%d proofs, %.2f CPU s]\n",
           alg, n / tc, n / tn, n / tr, tr / tc, tr / tn, n, tc + tn + tr);
    for (int i = 0; i < n; i++)
        free(p[i].proof);
    free(p);
    free(hdr);
    cf_dpop_keys_free(keys);
    OPENSSL_free(spki);
    EVP_PKEY_free(pub);
    EVP_PKEY_free(pk);
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 20000;

    if (n <= 0)
        die("usage: dpop_verify_bench [N]");
    bench("ES256", n);
    bench("EdDSA", n);
    return 0;
}
