-- POST /v1/tasks/AUTH-128/progress with the task permit in WRK_PERMIT: a new report per request.
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
local common = require("common")

common.fixed(
  "POST",
  "/v1/tasks/" .. (os.getenv("WRK_TASK") or "AUTH-128") .. "/progress",
  '{"ready":["a"],"left":["b"],"progress":"45%","confidence":"Medium","risks":["r"],"logs":["l"]}'
)
setup, response, done = common.setup, common.response, common.done
