-- The same GET every time: the path from the URL, the headers from the file named by the
-- first script argument (wrk ... -s fixed-request.lua URL -- HEADERS_FILE).
-- Signed-in (one cookie), anonymous API call, anonymous page load, static file, floor.
local here = debug.getinfo(1, "S").source:sub(2):match("^(.*)/[^/]*$")
dofile(here .. "/report.lua")

local prepared

function init(args)
  prepared = wrk.format("GET", nil, read_headers(args[1]))
end

-- Defined by every script of the benchmark, so wrk does the same work per request in each case.
function request()
  return prepared
end
