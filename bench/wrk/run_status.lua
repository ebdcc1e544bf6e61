-- GET /v1/tasks/{runId} (WRK_RUN_ID) with the task permit in WRK_PERMIT: the run status poll.
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
local common = require("common")

common.fixed("GET", "/v1/tasks/" .. common.env("WRK_RUN_ID"), nil)
wrk.headers["Content-Type"] = nil
setup, response, done = common.setup, common.response, common.done
