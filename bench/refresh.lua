-- wrk script: refresh-token rotation under load. Each request spends one
-- refresh token from a pool and each 200 answer returns its successor to the
-- pool, so every request is a real rotation (never a reuse) as long as the
-- pool holds more tokens than wrk has connections.
local pool = {}

function init(args)
    for line in io.lines(args[1]) do
        pool[#pool + 1] = line
    end
end

function request()
    local t = table.remove(pool) or "pool-empty"
    return wrk.format("POST", "/oauth/token",
        {["Content-Type"] = "application/x-www-form-urlencoded"},
        "grant_type=refresh_token&refresh_token=" .. t)
end

function response(status, headers, body)
    local t = body:match('"refresh_token":"([^"]+)"')
    if t then pool[#pool + 1] = t end
end
