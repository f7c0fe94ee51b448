/* SPDX-License-Identifier: MIT
 *
 * IP addresses, CIDR ranges and the client address behind trusted proxies.
 * Decides which address a request came from: the peer, unless the peer is a
 * proxy the operator trusts, in which case the nearest untrusted hop in
 * X-Forwarded-For (or X-Real-IP). Must never believe a forwarding header sent
 * by an untrusted peer, and never take an unparsable header entry as an
 * address. Pure: no I/O, no DNS, no logging.
 *
 * IPv4-mapped IPv6 addresses (::ffff:a.b.c.d, as a dual-stack socket reports
 * IPv4 peers) are normalised to IPv4 everywhere, so "127.0.0.1/32" matches
 * such a peer and a client does not change address by changing stack.
 */
#ifndef CF_CORE_NETADDR_H
#define CF_CORE_NETADDR_H

#include <stddef.h>
#include <stdint.h>

/** Buffer size cf_ip_format() needs (INET6_ADDRSTRLEN). */
#define CF_IP_STRLEN 46

/** An address; compare with memcmp only after zero-initialising. */
typedef struct {
    int family;    /* 4 or 6 */
    uint8_t a[16]; /* network order; IPv4 in a[0..3], a[4..15] zero */
} cf_ip_t;

/**
 * Parse @n bytes of @s (not NUL-terminated) as an IPv4 dotted quad or an
 * IPv6 address, optionally in brackets ("[::1]"). No ports, zone ids,
 * whitespace or shorthand IPv4 forms ("10.1"). An IPv4-mapped IPv6 address
 * becomes IPv4. Returns 0 and fills *@out (fully, unused bytes zero), or
 * CF_EPARSE leaving *@out untouched.
 */
int cf_ip_parse(const char *s, size_t n, cf_ip_t *out);

/** Write @ip in canonical text form (RFC 5952 for IPv6), NUL-terminated. */
void cf_ip_format(const cf_ip_t *ip, char out[CF_IP_STRLEN]);

typedef struct {
    cf_ip_t net; /* host bits cleared */
    int bits;    /* prefix length: 0..32 or 0..128 */
} cf_cidr_t;

/**
 * Parse "ADDR/BITS" or a bare "ADDR" (a full-length prefix) from @n bytes of
 * @s. BITS is 1-3 decimal digits within the family's length. Host bits that
 * are set are accepted and cleared ("10.1.2.3/8" is 10.0.0.0/8). An
 * IPv4-mapped range with BITS >= 96 becomes the IPv4 range of BITS - 96.
 * Returns 0, or CF_EPARSE leaving *@out untouched.
 */
int cf_cidr_parse(const char *s, size_t n, cf_cidr_t *out);

/** 1 if @ip lies in @c, 0 otherwise (always 0 across families). */
int cf_cidr_contains(const cf_cidr_t *c, const cf_ip_t *ip);

/**
 * Decide the client address of a request whose TCP peer is @peer, given the
 * X-Forwarded-For value @xff (all such headers joined with ',', or NULL) and
 * the X-Real-IP value @xreal (or NULL), believing only the @ntrusted proxy
 * ranges in @trusted:
 *
 * - peer not trusted: the peer (the headers are ignored: anyone can send them);
 * - X-Forwarded-For present (non-empty): walk its entries from the right,
 *   skipping trusted addresses; the first untrusted one is the client; if all
 *   are trusted, the leftmost; an unparsable entry (including an empty one,
 *   "unknown", or one with a port) stops the walk and the last good hop is the
 *   client (the peer if the rightmost entry is bad);
 * - otherwise X-Real-IP if it parses (surrounding blanks allowed), else the peer.
 *
 * Returns 0 and fills *@out; CF_EINVAL if @peer or @out is NULL.
 */
int cf_ip_client(const cf_ip_t *peer, const char *xff, size_t xff_len, const char *xreal,
                 size_t xreal_len, const cf_cidr_t *trusted, size_t ntrusted, cf_ip_t *out);

/**
 * 1 if @a and @b share their first @v4_bits (IPv4) or @v6_bits (IPv6) bits,
 * 0 otherwise; always 0 across families. Bit counts are clamped to the
 * family's range (a negative count compares nothing, so answers 1).
 */
int cf_ip_same_prefix(const cf_ip_t *a, const cf_ip_t *b, int v4_bits, int v6_bits);

#endif
