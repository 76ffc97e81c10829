// The web storefront in headless Chromium: the shopper's whole path, the chat widget, pages without
// JavaScript, an axe-core pass on every main page, and (SCREENSHOTS=dir) the screenshots in docs/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { startShop, launch, clickAndWait, axe, repo } from "./harness.mjs";

let shop, browser;
let bought; // the first test's order: { orderId, email, password, pid }
const violations = {};
const shots = process.env.SCREENSHOTS ? join(repo, process.env.SCREENSHOTS) : null;

before(async () => {
  shop = await startShop();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await shop?.stop();
});

/// Records the page's serious/critical axe violations under `name`, and its screenshot when asked.
async function check(page, name) {
  violations[name] = await axe(page);
  if (shots) {
    mkdirSync(shots, { recursive: true });
    await page.screenshot({ path: join(shots, `${name}.png`), fullPage: false });
  }
}

const text = (page, sel) => page.$eval(sel, (e) => e.textContent.trim());
const api = (page, path) =>
  page.evaluate(async (p) => {
    const r = await fetch(p, { credentials: "same-origin" });
    return { status: r.status, body: await r.json() };
  }, path);

test("a guest searches, adds to the cart, registers (the cart merges), checks out, and sees the order", async () => {
  const ctx = await browser.createBrowserContext();
  const page = await ctx.newPage();
  await page.setViewport({ width: 1200, height: 900 });
  await page.goto(`${shop.base}/`);
  await check(page, "home");
  await page.type("#q", "heart");
  await clickAndWait(page, "form.search button");
  assert.match(await text(page, "h1"), /heart/);
  assert.ok((await page.$$(".result")).length > 0, "search found products");
  await check(page, "search");
  // the first result's page
  await clickAndWait(page, ".result a");
  const pid = Number(page.url().split("/").pop());
  const before = await api(page, `/products/${pid}`);
  assert.equal(before.status, 200);
  await check(page, "product");
  await page.$eval("#quantity", (e) => (e.value = "3"));
  await clickAndWait(page, "form.add button");
  assert.equal(new URL(page.url()).pathname, "/basket");
  assert.equal(await page.$eval(`#qty-${pid}`, (e) => e.value), "3");
  await check(page, "cart");

  // register from the cart: the guest cart becomes the account's
  await page.goto(`${shop.base}/register?next=/basket`);
  await check(page, "register");
  const email = `shopper-${Date.now()}@example.com`;
  await page.type("#email", email);
  await page.type("#password", "a-long-password");
  await clickAndWait(page, 'form[action="/register"] button');
  assert.equal(new URL(page.url()).pathname, "/basket");
  assert.equal(await page.$eval(`#qty-${pid}`, (e) => e.value), "3", "the guest cart merged into the account's");
  const cart = await api(page, "/cart");
  assert.equal(cart.status, 200, "the session cookie signs API calls too");
  assert.deepEqual(cart.body.items.map((l) => [l.product_id, l.quantity]), [[pid, 3]]);

  // check out
  await clickAndWait(page, 'a[href="/basket/checkout"]');
  await check(page, "checkout");
  await page.type("#ship_to", "1 High Street, Bristol BS1 1AA");
  await clickAndWait(page, 'form[action="/basket/checkout"] button');
  const path = new URL(page.url()).pathname;
  assert.match(path, /^\/account\/orders\/\d+$/);
  const orderId = Number(path.split("/").pop());
  assert.equal(await text(page, "#order-status"), "Paid");
  await check(page, "order");

  // the ledger: the order's money and the stock agree with what was bought
  const order = await api(page, `/orders/${orderId}`);
  assert.equal(order.body.status, "Paid");
  assert.equal(order.body.total_cents, 3 * before.body.price_cents);
  assert.deepEqual(order.body.lines.map((l) => [l.product_id, l.quantity, l.price_cents]), [[pid, 3, before.body.price_cents]]);
  const after = await api(page, `/products/${pid}`);
  assert.equal(after.body.stock, before.body.stock - 3);
  assert.deepEqual((await api(page, "/cart")).body.items, [], "the bought lines left the cart");

  // the order list shows it
  await page.goto(`${shop.base}/account/orders`);
  assert.ok(await page.$(`a[href="/account/orders/${orderId}"]`), "the order is listed");
  await check(page, "orders");

  // the chat widget answers "where is my order?" for this customer
  await page.click("#chat-title");
  await page.type("#chat-message", "where is my order?");
  await page.click("#chat-form button");
  await page.waitForFunction(() => document.querySelectorAll("#chat-log .msg.bot").length >= 1);
  assert.match(await text(page, "#chat-log .msg.bot:last-child"), /order number/i);
  await page.type("#chat-message", `it is ${orderId}`);
  await page.click("#chat-form button");
  await page.waitForFunction(() => document.querySelectorAll("#chat-log .msg.bot").length >= 2);
  const answer = await text(page, "#chat-log .msg.bot:last-child");
  assert.match(answer, new RegExp(String(orderId)));
  assert.match(answer, /paid/i);
  await check(page, "chat");
  bought = { orderId, email, password: "a-long-password", pid, total: order.body.total_cents };
  await ctx.close();
});

async function signIn(ctx, email, password, next = "/") {
  const page = await ctx.newPage();
  await page.setViewport({ width: 1200, height: 900 });
  await page.goto(`${shop.base}/signin?next=${encodeURIComponent(next)}`);
  await page.type("#email", email);
  await page.type("#password", password);
  await clickAndWait(page, 'form[action="/signin"] button');
  assert.equal(new URL(page.url()).pathname, next.split("?")[0]);
  return page;
}

test("the dealer ships the order, refunds part of it, and restocks a product", async () => {
  assert.ok(bought, "needs the first test's order");
  const ctx = await browser.createBrowserContext();
  const page = await signIn(ctx, "dealer@demo.shop", "demo-password", "/dealer");
  await check(page, "dealer");
  await clickAndWait(page, 'a[href="/dealer/orders?status=Paid"]');
  await check(page, "dealer-orders");
  await clickAndWait(page, `a[href="/dealer/orders/${bought.orderId}"]`);
  await clickAndWait(page, `form[action="/dealer/orders/${bought.orderId}/ship"] button`);
  assert.equal(await text(page, "#order-status"), "Shipped");
  await check(page, "dealer-order");
  // a partial refund of £1.00, then the ledger: the order says so, and so does the customer's view
  await page.type("#amount", "1.00");
  await clickAndWait(page, `form[action="/dealer/orders/${bought.orderId}/refund"] button`);
  assert.equal(await text(page, "#refunded"), "£1.00");
  const o = await api(page, `/orders/${bought.orderId}`);
  assert.equal(o.body.refunded_cents, 100);
  assert.equal(o.body.total_cents, bought.total);
  // restock: the product page shows the new stock
  await page.goto(`${shop.base}/dealer/products/${bought.pid}`);
  await check(page, "dealer-product");
  await page.$eval("#stock", (e) => (e.value = "777"));
  await clickAndWait(page, 'form.narrow button');
  assert.equal((await api(page, `/products/${bought.pid}`)).body.stock, 777);
  // the customer sees the shipment
  const cctx = await browser.createBrowserContext();
  const customer = await signIn(cctx, bought.email, bought.password, `/account/orders/${bought.orderId}`);
  assert.equal(await text(customer, "#order-status"), "Shipped");
  await cctx.close();
  await ctx.close();
});

test("a customer and the dealer talk live in two browsers; the customer accepts the offer and buys at its price", async () => {
  const cctx = await browser.createBrowserContext();
  const dctx = await browser.createBrowserContext();
  const customer = await signIn(cctx, "customer@demo.shop", "demo-password", "/item/1");
  const catalogue = (await api(customer, "/products/1")).body.price_cents;
  await customer.type("#ask-body", "Could you make this in blue? I would take two.");
  await clickAndWait(customer, 'form[action="/messages/new"] button');
  const cpath = new URL(customer.url()).pathname;
  assert.match(cpath, /^\/messages\/\d+$/);
  const conv = cpath.split("/").pop();
  await customer.waitForFunction(() => window.shopmlLive && window.shopmlLive.readyState === 1);

  const dealer = await signIn(dctx, "dealer@demo.shop", "demo-password", "/messages");
  assert.ok(Number(await text(dealer, "#unread")) >= 1, "the dealer sees an unread message");
  await clickAndWait(dealer, `a[href="/messages/${conv}"]`);
  await dealer.waitForFunction(() => window.shopmlLive && window.shopmlLive.readyState === 1);
  await check(dealer, "thread");
  const before = (await customer.$$("#thread li")).length;
  // the dealer answers with an offer: 2 at £1.00 — it appears on the customer's open page by itself
  await dealer.type("#body", "Yes, blue is possible: two for £1.00 each.");
  await dealer.type("#offer_price", "1.00");
  await dealer.type("#offer_quantity", "2");
  await clickAndWait(dealer, "#reply button");
  await customer.waitForFunction((n) => document.querySelectorAll("#thread li").length > n, {}, before);
  assert.match(await text(customer, "#thread li:last-child"), /two for £1.00/);
  // and the customer's reply appears on the dealer's open page
  const dBefore = (await dealer.$$("#thread li")).length;
  await customer.type("#body", "Great, thank you!");
  await clickAndWait(customer, "#reply button");
  await dealer.waitForFunction((n) => document.querySelectorAll("#thread li").length > n, {}, dBefore);
  assert.match(await text(dealer, "#thread li:last-child"), /Great, thank you/);
  // accept the offer (on the reloaded page), buy, and reconcile
  await clickAndWait(customer, "#thread .offer form button");
  assert.equal(new URL(customer.url()).pathname, "/basket");
  const cart = await api(customer, "/cart");
  const line = cart.body.items.find((l) => l.product_id === 1);
  assert.deepEqual([line.quantity, line.price_cents], [2, 100]);
  assert.notEqual(catalogue, 100, "the offer differs from the catalogue price");
  await clickAndWait(customer, 'a[href="/basket/checkout"]');
  await customer.type("#ship_to", "2 Low Road, Leeds");
  if (await customer.$("#store_id")) await customer.select("#store_id", String(line.store_id));
  await clickAndWait(customer, 'form[action="/basket/checkout"] button');
  const orderId = Number(new URL(customer.url()).pathname.split("/").pop());
  const order = (await api(customer, `/orders/${orderId}`)).body;
  const bought = order.lines.find((l) => l.product_id === 1);
  assert.deepEqual([bought.quantity, bought.price_cents], [2, 100], "bought at the agreed price");
  const thread = (await api(customer, `/conversations/${conv}`)).body;
  const offer = thread.messages.find((m) => m.offer);
  assert.equal(offer.offer.order_id, orderId, "the offer is marked bought by the order");
  // bought once: accepting it again is refused
  const again = await customer.evaluate(async (p) => (await fetch(p, { method: "POST" })).status, `/conversations/${conv}/offers/${offer.id}/accept`);
  assert.equal(again, 409);
  await cctx.close();
  await dctx.close();
});

test("pages work without JavaScript: browse, add to the cart, sign in, and the chat form answers", async () => {
  const ctx = await browser.createBrowserContext();
  const page = await ctx.newPage();
  await page.setJavaScriptEnabled(false);
  await page.goto(`${shop.base}/search?q=bag&sort=price_asc`);
  const prices = await page.$$eval(".result .price", (es) => es.map((e) => Number(e.textContent.replace("£", ""))));
  assert.ok(prices.length > 1);
  assert.deepEqual(prices, [...prices].sort((a, b) => a - b), "sorted by price");
  // a category facet narrows the results
  const facet = await page.$eval('fieldset input[name="category"]:not([value=""])', (e) => e.value);
  await page.click(`fieldset input[value="${facet}"]`);
  await clickAndWait(page, "form.filters button");
  assert.equal(new URL(page.url()).searchParams.get("category"), facet);
  await clickAndWait(page, ".result a");
  await clickAndWait(page, "form.add button");
  assert.equal(new URL(page.url()).pathname, "/basket");
  assert.equal((await page.$$("table.lines tbody tr")).length, 1);
  // sign in as the demo customer: back on the cart, the guest line merged
  await page.goto(`${shop.base}/signin?next=/basket`);
  await page.type("#email", "customer@demo.shop");
  await page.type("#password", "demo-password");
  await clickAndWait(page, 'form[action="/signin"] button');
  assert.equal(new URL(page.url()).pathname, "/basket");
  assert.ok((await page.$$("table.lines tbody tr")).length >= 1);
  await clickAndWait(page, "#chat-form button").catch(() => {}); // required field: nothing sent
  await page.goto(`${shop.base}/`);
  await page.$eval("#chat", (d) => (d.open = true)); // (evaluate runs even with page scripts off)
  await page.type("#chat-message", "what is your return policy?");
  await clickAndWait(page, "#chat-form button");
  assert.equal(new URL(page.url()).pathname, "/help");
  assert.ok((await page.$$("#chat-log .msg.bot")).length === 1);
  // a wrong password is a message on the page, not an error page
  await clickAndWait(page, 'form[action="/signout"] button');
  await page.goto(`${shop.base}/signin`);
  await page.type("#email", "customer@demo.shop");
  await page.type("#password", "wrong-password");
  await clickAndWait(page, 'form[action="/signin"] button');
  assert.match(await text(page, ".error"), /wrong e-mail or password/);
  const withJs = await ctx.newPage(); // axe runs as a page script
  await withJs.goto(`${shop.base}/signin`);
  await check(withJs, "signin");
  await ctx.close();
});

test("keyboard only: skip link, search, add to cart, and the chat widget open and answer", async () => {
  const ctx = await browser.createBrowserContext();
  const page = await ctx.newPage();
  await page.goto(`${shop.base}/`);
  const focused = () => page.evaluate(() => document.activeElement && (document.activeElement.id || document.activeElement.className || document.activeElement.tagName));
  await page.keyboard.press("Tab");
  assert.equal(await focused(), "skip", "the first Tab reaches the skip link");
  await page.keyboard.press("Tab");
  await page.keyboard.press("Tab");
  assert.equal(await focused(), "q", "then the search box");
  await page.keyboard.type("lunch box");
  await Promise.all([page.waitForNavigation(), page.keyboard.press("Enter")]);
  assert.match(await text(page, "h1"), /lunch box/);
  // to the first result by Tab, open it with Enter
  await page.focus(".result a");
  await Promise.all([page.waitForNavigation(), page.keyboard.press("Enter")]);
  await page.focus("#quantity");
  await Promise.all([page.waitForNavigation(), page.keyboard.press("Enter")]); // Enter submits the form
  assert.equal(new URL(page.url()).pathname, "/basket");
  // the chat widget opens from the keyboard and sends with Enter
  await page.focus("#chat-title");
  await page.keyboard.press("Enter");
  assert.ok(await page.$eval("#chat", (d) => d.open), "Enter opens the widget");
  await page.focus("#chat-message");
  await page.keyboard.type("do you ship to France?");
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => document.querySelectorAll("#chat-log .msg.bot").length >= 1);
  await ctx.close();
});

test("a form posted from another site is refused; the same form from the shop's own origin is taken", async () => {
  const post = (origin) =>
    fetch(`${shop.base}/basket/1`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", origin },
      body: "quantity=1",
      redirect: "manual",
    });
  const evil = await post("https://evil.example");
  assert.equal(evil.status, 403);
  assert.equal(evil.headers.get("set-cookie"), null, "no cart was made");
  const own = await post(shop.base);
  assert.equal(own.status, 303, "the origin decides, nothing else");
  assert.match(own.headers.get("set-cookie"), /^cart=/);
});

test("a checkout that fails shows why on the checkout page, and the cart is kept", async () => {
  const ctx = await browser.createBrowserContext();
  const page = await signIn(ctx, "customer@demo.shop", "demo-password", "/item/2");
  await page.$eval("#quantity", (e) => (e.value = "2"));
  await clickAndWait(page, "form.add button");
  // the dealer sells the stock away meanwhile (through the API)
  const login = await fetch(`${shop.base}/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email: "dealer@demo.shop", password: "demo-password" }),
  }).then((r) => r.json());
  const patched = await fetch(`${shop.base}/products/2`, {
    method: "PATCH",
    headers: { "content-type": "application/json", authorization: `Bearer ${login.token}` },
    body: JSON.stringify({ stock: 1 }),
  });
  assert.equal(patched.status, 200);
  await page.goto(`${shop.base}/basket/checkout`);
  await page.type("#ship_to", "3 Side Street, York");
  if (await page.$("#store_id")) await page.select("#store_id", "1");
  const [resp] = await Promise.all([page.waitForNavigation(), page.click('form[action="/basket/checkout"] button')]);
  assert.equal(resp.status(), 422);
  assert.match(await text(page, ".error"), /out of stock/);
  assert.ok(await page.$('form[action="/basket/checkout"]'), "the form is there to try again");
  const cart = await api(page, "/cart");
  assert.ok(cart.body.items.some((l) => l.product_id === 2 && l.quantity >= 2), "the cart is kept");
  await ctx.close();
});

test("axe-core: no serious or critical accessibility violations on the main pages", () => {
  assert.ok(Object.keys(violations).length >= 14, `pages checked: ${Object.keys(violations)}`);
  const bad = Object.entries(violations).filter(([, v]) => v.length > 0);
  assert.deepEqual(bad, [], JSON.stringify(bad, null, 2));
});
