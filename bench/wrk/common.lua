-- What every scenario script shares: per-thread counts of 2xx answers and of failures by kind, a
-- check that no request is built before the previous answer on its connection was read, and one
-- JSON line from done() that bench/lean_bench.py parses ("WRK_JSON {...}").
--
-- wrk runs setup() and done() in the main Lua state and request()/response() in one Lua state per
-- thread; thread:set/get copy values between them.

local common = {}

local threads = {}

-- Per-thread state (globals of each thread's Lua state).
ok = 0          -- 2xx answers that count as the scenario's work
failures = {}   -- kind ("HTTP 401 invalid_permit", "bootstrap HTTP 500", ...) -> count
built = 0       -- requests built by request()
answered = 0    -- answers seen by response()
early = 0       -- requests built while an earlier one on their connection was unanswered

function common.setup(thread)
  table.insert(threads, thread)
  thread:set("thread_index", #threads)
end

function common.header(headers, name)
  local value = headers[name]
  if value then return value end
  for key, found in pairs(headers) do
    if string.lower(key) == name then return found end
  end
  return nil
end

function common.fail(kind)
  failures[kind] = (failures[kind] or 0) + 1
end

function common.failure_kind(status, body)
  local code = body and string.match(body, '"error"%s*:%s*"([^"]*)"')
  if code then return "HTTP " .. status .. " " .. code end
  return "HTTP " .. status
end

-- For scripts with one connection per thread (threads == connections), first thing in request().
-- wrk calls thread 1's request() once more than it sends (it checks the script's request before
-- starting), so the number in flight is taken relative to what it was at the first answer.
offset = nil

function common.building()
  built = built + 1
  if offset and built - answered - offset > 1 then early = early + 1 end
end

function common.answered()
  answered = answered + 1
  if not offset then offset = built - answered end
end

-- The default answer check: 2xx counts, anything else is a failure of its kind.
function common.response(status, headers, body)
  common.answered()
  if status >= 200 and status < 300 then
    ok = ok + 1
  else
    common.fail(common.failure_kind(status, body))
  end
end

local function encode(value)
  local kind = type(value)
  if kind == "table" then
    local parts = {}
    for key, item in pairs(value) do
      table.insert(parts, string.format("%q", tostring(key)) .. ":" .. encode(item))
    end
    return "{" .. table.concat(parts, ",") .. "}"
  elseif kind == "string" then
    return string.format("%q", value)
  elseif kind == "number" then
    if value ~= value or value == math.huge or value == -math.huge then return "null" end
    return string.format("%.17g", value)
  elseif kind == "boolean" then
    return tostring(value)
  end
  return "null"
end

function common.done(summary, latency, requests)
  local result = {
    requests = summary.requests,
    duration_s = summary.duration / 1e6,
    bytes = summary.bytes,
    ok = 0,
    built = 0,
    answered = 0,
    early = 0,
    bootstraps = 0,
    failures = {},
    socket_errors = {
      connect = summary.errors.connect,
      read = summary.errors.read,
      write = summary.errors.write,
      timeout = summary.errors.timeout,
    },
    wrk_status_errors = summary.errors.status,
    latency_ms = {
      p50 = latency:percentile(50) / 1000,
      p90 = latency:percentile(90) / 1000,
      p99 = latency:percentile(99) / 1000,
      max = latency.max / 1000,
      mean = latency.mean / 1000,
    },
  }
  for _, thread in ipairs(threads) do
    result.ok = result.ok + (thread:get("ok") or 0)
    result.built = result.built + (thread:get("built") or 0)
    result.answered = result.answered + (thread:get("answered") or 0)
    result.early = result.early + (thread:get("early") or 0)
    result.bootstraps = result.bootstraps + (thread:get("bootstraps") or 0)
    for kind, n in pairs(thread:get("failures") or {}) do
      result.failures[kind] = (result.failures[kind] or 0) + n
    end
  end
  io.write("WRK_JSON " .. encode(result) .. "\n")
end

-- The request every fixed scenario sends, from the environment the orchestrator sets.
function common.fixed(method, path, body)
  wrk.method = method
  wrk.path = path
  wrk.headers["Content-Type"] = "application/json"
  local permit = os.getenv("WRK_PERMIT")
  if permit and permit ~= "" then wrk.headers["Authorization"] = "Bearer " .. permit end
  wrk.body = body
end

-- A variable the orchestrator must set.
function common.env(name)
  local value = os.getenv(name)
  if not value or value == "" then error(name .. " is not set") end
  return value
end

function common.read_file(path)
  local handle = assert(io.open(path, "rb"))
  local text = handle:read("*a")
  handle:close()
  return text
end

return common
