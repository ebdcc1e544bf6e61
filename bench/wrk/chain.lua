-- The Jira App's request-key chain on GET /v1/instances/me. Run with threads == connections: each
-- thread is one connection and one Lua state, so the key it holds is that connection's chain.
--
-- setup() hands thread n line n of WRK_CHAINS ("<FIT> <first key>"). Every answer's
-- X-SeeCodes-Next-Request-Key is the key of the next request; wrk calls response() before it builds
-- the next request on a connection (non-pipelined), which `early` (common.building) checks and a
-- replayed key (HTTP 403 request_key_replayed) would show. Any failure restarts the chain with
-- POST /v1/jira/request-key; bootstraps are chain overhead, not chain steps (only their failures count).
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
local common = require("common")

local chains = {}
for line in io.lines(common.env("WRK_CHAINS")) do
  local fit, key = line:match("^(%S+)%s+(%S+)$")
  table.insert(chains, {fit = fit, key = key})
end

function setup(thread)
  common.setup(thread)
  local chain = chains[thread:get("thread_index")]
  if not chain then error("WRK_CHAINS has fewer lines than wrk has threads") end
  thread:set("fit", chain.fit)
  thread:set("key", chain.key)
end

bootstraps = 0
local bootstrapping = false

function request()
  common.building()
  local auth = "Bearer " .. fit
  if key == nil then
    bootstrapping = true
    return wrk.format("POST", "/v1/jira/request-key", {["Authorization"] = auth, ["Content-Length"] = "0"})
  end
  bootstrapping = false
  return wrk.format("GET", "/v1/instances/me", {["Authorization"] = auth, ["X-SeeCodes-Jira-Request-Key"] = key})
end

function response(status, headers, body)
  common.answered()
  if bootstrapping then
    bootstraps = bootstraps + 1
    key = status == 200 and string.match(body, '"requestKey"%s*:%s*"([^"]+)"') or nil
    if not key then common.fail("bootstrap " .. common.failure_kind(status, body)) end
    return
  end
  local next_key = common.header(headers, "x-seecodes-next-request-key")
  if status == 200 and next_key then
    key = next_key
    ok = ok + 1
  else
    key = nil
    common.fail(status == 200 and "200 without next key" or common.failure_kind(status, body))
  end
end

done = common.done
