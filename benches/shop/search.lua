-- wrk script: GET /products with a rotating set of searches (text, filters, sorts, pages).
local queries = {
  "/products?q=heart&per_page=20",
  "/products?q=bag&sort=price_asc&per_page=20",
  "/products?q=christmas&in_stock=true&per_page=20",
  "/products?q=lunch%20box&per_page=20",
  "/products?q=vintage&min_price=1&max_price=5&per_page=20&page=2",
  "/products?category=HOLDER&sort=popularity&per_page=20",
  "/products?q=candle&sort=popularity&per_page=20",
  "/products?q=mug&per_page=20",
}
local i = 0
function request()
  i = i + 1
  return wrk.format("GET", queries[(i % #queries) + 1])
end
