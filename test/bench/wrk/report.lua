-- Shared by the benchmark's wrk scripts: done() prints one machine-readable line that
-- test/bench/support/wrk.ts parses (wrk's own text output is for people).

-- Reads "Name: value" lines (blank lines and lines starting with "#" ignored) into a table.
function read_headers(path)
  local headers = {}
  local file = assert(io.open(path, "r"))
  for line in file:lines() do
    if line ~= "" and line:sub(1, 1) ~= "#" then
      local name, value = line:match("^([^:]+):%s*(.*)$")
      assert(name, "bad header line in " .. path)
      headers[name] = value
    end
  end
  file:close()
  return headers
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"durationMicros":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latencyMicros":{"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d,"mean":%.1f}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean))
end
