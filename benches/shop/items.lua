-- wrk script: the product pages of products 1–100 in turn (each request a different product than the
-- last: for a signed-in customer, every request is a new view that changes their sequence).
local i = 0
function request()
  i = i + 1
  return wrk.format("GET", "/item/" .. ((i % 100) + 1))
end
