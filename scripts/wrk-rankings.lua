-- wrk script of scripts/bench: GET a campaign's rankings, the whole of
-- them or pages at random offsets, and print one "result:" line in the
-- form the other parledger bench commands print.
--
--   WRK_PATH=/api/v1/campaigns/quoc-gia/rankings WRK_LIMIT=100 WRK_ROWS=10000 \
--     wrk -t 2 -c 64 -d 10s -s scripts/wrk-rankings.lua http://127.0.0.1:8080
--
-- WRK_LIMIT=0 (or unset) asks for the whole rankings. Errors count
-- connection errors, timeouts and every answer other than 2xx or 3xx.

local path = os.getenv("WRK_PATH") or "/"
local limit = tonumber(os.getenv("WRK_LIMIT") or "0")
local pages = math.max(math.floor(tonumber(os.getenv("WRK_ROWS") or "0") / math.max(limit, 1)), 1)

local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("seed", threads)
end

function init(args)
  math.randomseed(os.time() * 1000 + (seed or 0))
end

function request()
  if limit > 0 then
    return wrk.format("GET", path .. "?limit=" .. limit .. "&offset=" .. math.random(0, pages - 1) * limit)
  end
  return wrk.format("GET", path)
end

function done(summary, latency, requests)
  local e = summary.errors
  local n = math.max(summary.requests, 1)
  io.write(string.format(
    "result: bench=wrk limit=%d requests=%d errors=%d requests_per_s=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f kib_per_response=%.1f\n",
    limit, summary.requests, e.connect + e.read + e.write + e.status + e.timeout,
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    summary.bytes / n / 1024))
end
