# SPDX-License-Identifier: MIT
"""DPoP proofs for bench/check.sh, made with Python's `cryptography` (not
curfew's code), as tests/integration/test_dpop.py makes them.

    dpop_proofs.py key ALG KEYFILE
        a new ES256 (P-256) or EdDSA (Ed25519) key in KEYFILE (PEM); prints its
        RFC 7638 thumbprint (the session's dpop_jkt)
    dpop_proofs.py proofs KEYFILE TOKEN HTM HTU COUNT OUT [PROCS]
        COUNT proofs for one access token (ath) and one method and URL, each
        with its own jti and iat = now, signed by PROCS processes (default: the
        CPU count). OUT gets the protected header (base64url, the same in every
        proof) on its first line, then one "payload.signature" a line:
        bench/dpop.lua puts them together, so no proof is ever sent twice.
"""

import base64
import hashlib
import json
import multiprocessing
import os
import sys
import time

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk(priv):
    """(alg, jwk, the jwk's RFC 7638 thumbprint)."""
    if isinstance(priv, ec.EllipticCurvePrivateKey):
        nums = priv.public_key().public_numbers()
        jwk = {"crv": "P-256", "kty": "EC", "x": b64u(nums.x.to_bytes(32, "big")),
               "y": b64u(nums.y.to_bytes(32, "big"))}
        alg = "ES256"
    else:
        raw = priv.public_key().public_bytes(serialization.Encoding.Raw,
                                             serialization.PublicFormat.Raw)
        jwk = {"crv": "Ed25519", "kty": "OKP", "x": b64u(raw)}
        alg = "EdDSA"
    canon = json.dumps(jwk, separators=(",", ":"), sort_keys=True)
    return alg, jwk, b64u(hashlib.sha256(canon.encode()).digest())


def load(keyfile):
    with open(keyfile, "rb") as f:
        return serialization.load_pem_private_key(f.read(), password=None)


def sign_chunk(job):
    keyfile, header, token, htm, htu, prefix, start, count = job
    priv = load(keyfile)
    ath = b64u(hashlib.sha256(token.encode()).digest())
    iat = int(time.time())
    es = isinstance(priv, ec.EllipticCurvePrivateKey)
    out = []
    for i in range(start, start + count):
        # jti: unique across the pool (index) and across runs (random prefix)
        claims = {"jti": f"{prefix}{i:x}", "htm": htm, "htu": htu, "iat": iat, "ath": ath}
        payload = b64u(json.dumps(claims, separators=(",", ":")).encode())
        msg = f"{header}.{payload}".encode()
        if es:
            r, s = decode_dss_signature(priv.sign(msg, ec.ECDSA(hashes.SHA256())))
            sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        else:
            sig = priv.sign(msg)
        out.append(f"{payload}.{b64u(sig)}\n")
    return "".join(out)



def main(argv):
    if len(argv) == 4 and argv[1] == "key":
        priv = ec.generate_private_key(ec.SECP256R1()) if argv[2] == "ES256" \
            else ed25519.Ed25519PrivateKey.generate()
        with open(argv[3], "wb") as f:
            f.write(priv.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
        print(public_jwk(priv)[2])
        return 0
    if len(argv) in (8, 9) and argv[1] == "proofs":
        keyfile, token, htm, htu, count, out = argv[2:8]
        procs = int(argv[8]) if len(argv) == 9 else os.cpu_count() or 1
        alg, jwk, _ = public_jwk(load(keyfile))
        header = b64u(json.dumps({"typ": "dpop+jwt", "alg": alg, "jwk": jwk},
                                 separators=(",", ":")).encode())
        count = int(count)
        step = max(1000, count // (procs * 8))
        prefix = b64u(os.urandom(9))
        jobs = [(keyfile, header, token, htm, htu, prefix, s, min(step, count - s))
                for s in range(0, count, step)]
        with open(out, "w") as f, multiprocessing.Pool(procs) as pool:
            f.write(header + "\n")
            for chunk in pool.imap(sign_chunk, jobs):
                f.write(chunk)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
