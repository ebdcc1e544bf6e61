-- GET /healthz: no database, no credential; the reference for what the HTTP stack costs.
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
local common = require("common")

wrk.method = "GET"
wrk.path = "/healthz"
setup, response, done = common.setup, common.response, common.done
