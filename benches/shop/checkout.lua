-- wrk script: POST /checkout with a fresh Idempotency-Key per request ("buy now" of one unit of one
-- of the first 100 products). Needs TOKEN in the environment.
local counter = 0
local token = os.getenv("TOKEN")
local prefix = os.getenv("KEY_PREFIX") or "" -- tells parallel wrk runs' keys apart
local thread_id = 0

function setup(thread)
  thread:set("tid", thread_id)
  thread_id = thread_id + 1
end

function init(args)
  math.randomseed(os.time() + tid * 7919)
end

function request()
  counter = counter + 1
  local product = math.random(1, 100)
  local body = '{"ship_to":"1 Load Street","items":[{"product_id":' .. product .. ',"quantity":1}]}'
  local headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
    ["Idempotency-Key"] = "load-" .. prefix .. tid .. "-" .. counter .. "-" .. math.random(1, 1000000000),
  }
  return wrk.format("POST", "/checkout", headers, body)
end

function done(summary, latency, requests)
  io.write(string.format("non-2xx/3xx: %d\n", summary.errors.status))
end
