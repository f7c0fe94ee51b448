-- wrk script: GET /v1/check cycling through many sessions' access tokens
-- (bench/check_tune.sh, SESSIONS=N). args[1] is a file of tokens, one a
-- line. Thread k of T sends tokens k, k+T, k+2T, ... over and over, so the
-- threads share the set without overlap and each token comes back after all
-- N have been sent once: at R checks/s, every N/R seconds. The requests are
-- formatted once in init, not per request, to keep wrk's own cost low.
local reqs = {}
local i = 0
local counter = 0

function setup(thread)
    counter = counter + 1
    thread:set("id", counter - 1)
end

function init(args)
    local nthreads = tonumber(args[2]) or 1
    local n = 0
    for line in io.lines(args[1]) do
        if n % nthreads == id then
            reqs[#reqs + 1] = wrk.format("GET", "/v1/check", {["Authorization"] = "Bearer " .. line})
        end
        n = n + 1
    end
end

function request()
    i = i % #reqs + 1
    return reqs[i]
end
