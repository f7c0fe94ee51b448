-- wrk script: GET /v1/check as nginx's auth_request sends it (X-Original-URI,
-- X-Original-Method, X-Forwarded-Host, X-Forwarded-Proto), with a DPoP-bound
-- token and a NEW proof on every request, or with a Bearer token.
--
--   wrk ... -s bench/dpop.lua URL -- SCHEME TOKEN URI POOL START LIMIT THREADS
--
-- SCHEME is DPoP or Bearer (POOL is then "-": the same request every time).
-- POOL is bench/dpop_proofs.py's output: the protected header on line 1, then
-- one "payload.signature" a line. This run may use lines START .. START+LIMIT-1
-- (counted from 0 after the header); wrk thread k of THREADS takes every
-- THREADS-th of them from START+k, so no two threads, and no two runs given
-- disjoint ranges, ever send the same proof. A thread that runs out sends
-- "DPoP: exhausted", which curfew refuses: wrk counts non-2xx and the bench
-- fails rather than measure replays. done() prints the lines used so the
-- caller can start the next run after them.
--
-- Every request is ONE string made per request: a prefix built once (request
-- line, the fixed headers, "DPoP: " and the protected header) .. the proof's
-- "payload.signature" .. CRLF CRLF, so the signature ends it. Lua interns every
-- string, and the LuaJIT wrk runs with (OpenResty's, CRC32 on x86-64) hashes a
-- string of 128 bytes or more from its first and last 8 bytes and 16 8-byte
-- windows at offsets drawn at random per process. When the varying bytes (the
-- signature and jti) sat where none of those look, as with wrk.format's
-- output (a table copy, then headers in pairs() order, the DPoP one anywhere,
-- ending in a constant header), every request string of the run had the same
-- hash and length: each new one was compared (memcmp) with all the earlier
-- ones not yet collected, and wrk's one thread spent ~150 µs per request
-- instead of ~30. That depended on the offsets wrk drew at start, so it hit
-- some runs and not others: the erratic 2k-vs-15k EdDSA (and ES256) rounds,
-- with curfew half idle. The last 8 bytes are always hashed: with the
-- signature's last 4 characters among them, no two requests of a run share a
-- hash but by chance.
local threads = {}
local counter = 0

function setup(thread)
    thread:set("id", counter)
    counter = counter + 1
    table.insert(threads, thread)
end

local proofs, prefix, fixed, exhausted_req
local nexti = 1
used, exhausted = 0, 0 -- globals: done() reads them with thread:get

function init(args)
    local scheme, token, uri, pool = args[1], args[2], args[3], args[4]
    local base = {
        ["Authorization"] = scheme .. " " .. token,
        ["X-Original-URI"] = uri,
        ["X-Original-Method"] = "GET",
        ["X-Forwarded-Host"] = "app.example",
        ["X-Forwarded-Proto"] = "https",
    }
    fixed = wrk.format("GET", "/v1/check", base) -- ends with the blank line
    if pool == "-" then
        return
    end
    local header
    local start, limit, nthreads = tonumber(args[5]), tonumber(args[6]), tonumber(args[7])
    proofs = {}
    local i = -1
    for line in io.lines(pool) do
        if i == -1 then
            header = line
        elseif i >= start + limit then
            break
        elseif i >= start and (i - start) % nthreads == id then
            proofs[#proofs + 1] = line
        end
        i = i + 1
    end
    prefix = fixed:sub(1, -3) .. "DPoP: " .. header .. "."
    exhausted_req = fixed:sub(1, -3) .. "DPoP: exhausted\r\n\r\n"
    fixed = nil
end

function request()
    if fixed then return fixed end
    local p = proofs[nexti]
    if p == nil then
        exhausted = exhausted + 1
        return exhausted_req
    end
    proofs[nexti] = nil
    nexti = nexti + 1
    used = nexti - 1
    return prefix .. p .. "\r\n\r\n"
end

function done(summary, latency, requests)
    local most, out = 0, 0
    for _, t in ipairs(threads) do
        most = math.max(most, t:get("used") or 0)
        out = out + (t:get("exhausted") or 0)
    end
    io.write(string.format("dpop-proofs-used: %d\n", most * #threads))
    if out > 0 then
        io.write(string.format("dpop-pool-exhausted: %d requests had no proof left\n", out))
    end
end
