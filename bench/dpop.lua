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
local threads = {}
local counter = 0

function setup(thread)
    thread:set("id", counter)
    counter = counter + 1
    table.insert(threads, thread)
end

local proofs, header, base, uri, fixed
local nexti = 1
used, exhausted = 0, 0 -- globals: done() reads them with thread:get

function init(args)
    local scheme, token, pool = args[1], args[2], args[4]
    uri = args[3]
    base = {
        ["Authorization"] = scheme .. " " .. token,
        ["X-Original-URI"] = uri,
        ["X-Original-Method"] = "GET",
        ["X-Forwarded-Host"] = "app.example",
        ["X-Forwarded-Proto"] = "https",
    }
    if pool == "-" then
        fixed = wrk.format("GET", "/v1/check", base)
        return
    end
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
end

function request()
    if fixed then return fixed end
    local p = proofs[nexti]
    local h = {}
    for k, v in pairs(base) do h[k] = v end
    if p then
        proofs[nexti] = nil
        nexti = nexti + 1
        used = nexti - 1
        h["DPoP"] = header .. "." .. p
    else
        exhausted = exhausted + 1
        h["DPoP"] = "exhausted"
    end
    return wrk.format("GET", "/v1/check", h)
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
