-- POST /v1/projects/{WRK_PROJECT}/indexes/query with the body in WRK_BODY_FILE (the orchestrator
-- writes 100 path/hash items: same-path matches, hash reuse from another path, stale paths).
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
local common = require("common")

common.fixed(
  "POST",
  "/v1/projects/" .. (os.getenv("WRK_PROJECT") or "AUTH") .. "/indexes/query",
  common.read_file(common.env("WRK_BODY_FILE"))
)
setup, response, done = common.setup, common.response, common.done
