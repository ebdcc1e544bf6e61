-- POST /v1/tasks/activity-snapshot with the task permit in WRK_PERMIT. Every request is a new
-- window (so each one is stored and added to its day's sums, not answered as a retry): thread n
-- uses the UTC day WRK_BASE_EPOCH - n days, one second further per request, so threads never
-- share a day's row and a later run (another base) never meets an earlier run's windows.
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
local common = require("common")

local base = tonumber(common.env("WRK_BASE_EPOCH"))
local headers = {
  ["Content-Type"] = "application/json",
  ["Authorization"] = "Bearer " .. common.env("WRK_PERMIT"),
}
local sent = 0

local function stamp(epoch, micro)
  return os.date("!%Y-%m-%dT%H:%M:%S", epoch) .. string.format(".%06dZ", micro)
end

function request()
  sent = sent + 1
  local day = base - thread_index * 86400
  local start = day + sent % 80000
  local micro = math.floor(sent / 80000)
  local body = '{"windowStartedAt":"' .. stamp(start, micro) .. '","windowEndedAt":"' .. stamp(start + 60, micro)
    .. '","humanActiveMs":42000,"locAdded":12,"locRemoved":3,"changedFiles":["src/a.ts","src/b.ts"],'
    .. '"logicChange":true}'
  return wrk.format("POST", "/v1/tasks/activity-snapshot", headers, body)
end

function response(status, headers, body)
  common.response(status, headers, body)
  if status == 200 and not string.find(body, '"stored":true', 1, true) then
    common.fail("200 but not stored")
  end
end

setup, done = common.setup, common.done
