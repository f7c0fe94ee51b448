#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""bench/gen_sessions.py DB N [TOKENS_PER_SESSION] -- write N live sessions into a new
SQLite store in curfew's schema (version 5), each with TOKENS_PER_SESSION refresh tokens
(default 1; the latest is current), to measure start-up and memory at scale.

The schema is read from a store curfew itself created (`curfew serve` once on an empty
data dir writes it), so this script never drifts from src/store/sqlite.c:
    python3 bench/gen_sessions.py data/curfew.db 1000000
DB must exist (created by curfew) and hold no sessions yet."""
import hashlib
import os
import sqlite3
import sys
import time


def main():
    path, n = sys.argv[1], int(sys.argv[2])
    per = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    db = sqlite3.connect(path)
    if db.execute("PRAGMA user_version").fetchone()[0] != 5:
        sys.exit(f"{path}: not a curfew store at schema 5 (start curfew on it once first)")
    if db.execute("SELECT count(*) FROM sessions").fetchone()[0]:
        sys.exit(f"{path}: already holds sessions")
    now = int(time.time() * 1000)
    idle, absolute, ttl = 30 * 60_000, 12 * 3_600_000, 5 * 60_000
    db.execute("BEGIN")
    seed = os.urandom(8)
    sessions, tokens = [], []
    for i in range(n):
        sid = hashlib.blake2b(seed + i.to_bytes(8, "little"), digest_size=18).digest()
        sid = sid.hex()[:24]  # 24 characters, as CF_SID_LEN
        sessions.append((sid, f"user{i % (n // 3 + 1)}", "web", "openid profile", "user", now,
                         now, now, idle, absolute, ttl, now + idle, now + absolute, 0, "", per - 1,
                         0, "203.0.113.7", "", ""))
        for g in range(per):
            tokens.append((hashlib.sha256(f"{sid}/{g}".encode()).digest(), sid, g))
        if len(sessions) >= 50_000:
            flush(db, sessions, tokens)
    flush(db, sessions, tokens)
    db.execute("COMMIT")
    db.close()


def flush(db, sessions, tokens):
    db.executemany("INSERT INTO sessions VALUES(" + ",".join("?" * 20) + ")", sessions)
    db.executemany("INSERT INTO refresh_tokens VALUES(?,?,?)", tokens)
    sessions.clear()
    tokens.clear()


if __name__ == "__main__":
    main()
