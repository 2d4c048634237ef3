-- A GET per request with the next Cookie header from a file, round-robin
-- (wrk ... -s rotating-cookies.lua URL -- HEADERS_FILE COOKIES_FILE, one Cookie value a line):
-- many distinct sessions, so the service's decoded-session cache misses.
local here = debug.getinfo(1, "S").source:sub(2):match("^(.*)/[^/]*$")
dofile(here .. "/report.lua")

local prepared = {}
local next_index = 0

function init(args)
  local headers = read_headers(args[1])
  local file = assert(io.open(args[2], "r"))
  for cookie in file:lines() do
    if cookie ~= "" then
      headers["Cookie"] = cookie
      prepared[#prepared + 1] = wrk.format("GET", nil, headers)
    end
  end
  file:close()
  assert(#prepared > 0, "no cookies in " .. args[2])
end

function request()
  next_index = next_index % #prepared + 1
  return prepared[next_index]
end
