#!/usr/bin/env python3
"""Write the signed seeds of tests/fuzz/corpus/{jws,dpop} with Python's
cryptography, independently of curfew's code, for the fixed keys the
harnesses hold (fuzz_jws.c: Ed25519 seed 01..20, kid "fuzz-key"; fuzz_dpop.c:
the P-256 and Ed25519 PEMs below). Deterministic except for ECDSA and AES-GCM
nonces; run it again only when a harness's keys or input layout change.

    /usr/bin/python3 tests/fuzz/gen_seeds.py
"""
import base64
import hashlib
import json
import os

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

HERE = os.path.dirname(os.path.abspath(__file__))
NOW = 1790000000
ISSUER, AUDIENCE = "https://auth.example.com", "api"
HTU = "https://api.example.com/v1/check"
ACCESS_TOKEN = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhbGljZSJ9.c2ln"
NONCE = "n-fuzz-1"
EC_PEM = b"""-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgb12UybEv6w9VrJ8y
85nKUDlWgb7lEs6utzKjzFMT0NqhRANCAAR6FChKwFPIN2/5KQ7eJcBS9vxmx/Zc
m1R18pVNH7oCxK3SXSed1/AqEBW6A0BsFuQmJT9ea/Sdx2Itz44NtsjX
-----END PRIVATE KEY-----
"""
ED_PEM = b"""-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIFHrEonxpdvSia5qBaEm5HKos9PPhhaQgX4h4X7xSv7J
-----END PRIVATE KEY-----
"""


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def compact(obj):
    return json.dumps(obj, separators=(",", ":"))


def write(name, sub, data):
    path = os.path.join(HERE, "corpus", name, sub)
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def raw_pub(k):
    return k.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def jws(sign, header, claims):
    si = b64(header.encode()) + "." + b64(claims.encode())
    return si + "." + b64(sign(si.encode()))


def jws_seeds():
    key = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
    header = compact({"alg": "EdDSA", "typ": "at+jwt", "kid": "fuzz-key"})
    base = {"iss": ISSUER, "sub": "alice@example.com", "aud": AUDIENCE, "exp": NOW + 300,
            "iat": NOW - 10, "jti": "Jx3k9aQ2mP0vR7tY1wZ4sA", "client_id": "web",
            "sid": "AAAAAAAAAAAAAAAAAAAAAAAA", "scope": "read write", "roles": ["admin", "user"]}
    variants = {
        "bearer": base,
        "minimal": {k: base[k] for k in ("iss", "sub", "aud", "exp", "iat", "jti", "sid")},
        "dpop-bound": dict(base, auth_time=NOW - 600, cnf={"jkt": b64(hashlib.sha256(b"k").digest())}),
        "mtls-bound": dict(base, cnf={"x5t#S256": b64(hashlib.sha256(b"c").digest())}),
        "aud-array": dict(base, aud=["other", AUDIENCE], nbf=NOW - 5),
        "expired": dict(base, exp=NOW - 60, iat=NOW - 360),
        "not-yet": dict(base, iat=NOW + 600, exp=NOW + 900),
        "wrong-iss": dict(base, iss="https://evil.example"),
    }
    for name, claims in variants.items():
        c = compact(claims)
        write("jws", "token-" + name, b"\x00" + jws(key.sign, header, c).encode())
        write("jws", "claims-" + name, b"\x01" + c.encode())
        write("jws", "pair-" + name, b"\x02" + (header + "\n" + c).encode())
    write("jws", "pair-crit", b"\x02" + (compact({"alg": "EdDSA", "kid": "fuzz-key", "crit": ["exp"]})
                                          + "\n" + compact(base)).encode())
    write("jws", "pair-alg-none", b"\x02" + (compact({"alg": "none", "kid": "fuzz-key"}) + "\n"
                                              + compact(base)).encode())
    # Key-set documents (keys.json): in clear, and under the harness's KEK (0x42 * 32).
    k2 = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(33, 65)))
    d1 = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                           serialization.NoEncryption())
    d2 = k2.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                          serialization.NoEncryption())
    t = NOW * 1000
    clear = {"v": 1, "version": 2, "keys": [
        {"kid": "fuzz-key", "x": b64(raw_pub(key)), "created_at": t, "activated_at": t,
         "deactivated_at": 0, "d": b64(d1)},
        {"kid": "old-key", "x": b64(raw_pub(k2)), "created_at": t - 86400000,
         "activated_at": t - 86400000, "deactivated_at": t, "d": b64(d2)}]}
    write("jws", "keyset-clear", b"\x03" + compact(clear).encode())
    iv = bytes(range(12))
    ct = AESGCM(b"\x42" * 32).encrypt(iv, d1, b"fuzz-key")
    enc = {"v": 1, "version": 1, "keys": [
        {"kid": "fuzz-key", "x": b64(raw_pub(key)), "created_at": t, "activated_at": t,
         "deactivated_at": 0, "enc": "A256GCM", "iv": b64(iv), "ct": b64(ct[:32]), "tag": b64(ct[32:])}]}
    write("jws", "keyset-kek", b"\x03" + compact(enc).encode())


def dpop_seeds():
    eck = serialization.load_pem_private_key(EC_PEM, None)
    edk = serialization.load_pem_private_key(ED_PEM, None)
    n = eck.public_key().public_numbers()
    ec_jwk = {"kty": "EC", "crv": "P-256", "x": b64(n.x.to_bytes(32, "big")), "y": b64(n.y.to_bytes(32, "big"))}
    ed_jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64(raw_pub(edk))}

    def es256(si):
        r, s = decode_dss_signature(eck.sign(si, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    ath = b64(hashlib.sha256(ACCESS_TOKEN.encode()).digest())
    for kname, alg, jwk, sign, kbit in (("es256", "ES256", ec_jwk, es256, 0), ("eddsa", "EdDSA", ed_jwk, edk.sign, 4)):
        header = compact({"typ": "dpop+jwt", "alg": alg, "jwk": jwk})
        base = {"jti": "e1j3V_bKic8-LAEB", "htm": "POST", "htu": HTU, "iat": NOW}
        variants = {  # name: (claims, flags: 8 nonce asked, 16 access token presented)
            "token-endpoint": (base, 0),
            "check-ath": (dict(base, ath=ath), 16),
            "nonce": (dict(base, ath=ath, nonce=NONCE), 24),
            "htu-variant": (dict(base, htu="HTTPS://API.example.com:443/v1/./check?x=1#f", iat=NOW - 30), 0),
            "stale": (dict(base, iat=NOW - 3600), 0),
        }
        for vname, (claims, flags) in variants.items():
            c = compact(claims)
            write("dpop", "proof-%s-%s" % (kname, vname), bytes([flags]) + jws(sign, header, c).encode())
            write("dpop", "pair-%s-%s" % (kname, vname), bytes([1 | kbit | flags]) + (header + "\n" + c).encode())
    write("dpop", "url", b"\x00" + b"https://Api.Example.com:443/a/../v1/%7echeck?q#f")
    write("dpop", "jwk", b"\x00" + compact(ec_jwk).encode())


if __name__ == "__main__":
    jws_seeds()
    dpop_seeds()
