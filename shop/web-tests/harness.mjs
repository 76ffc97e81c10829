// Starts the shop (the dev build) on a free port with a throw-away database, and headless Debian
// Chromium through puppeteer-core. Nothing is downloaded: the browser is /usr/bin/chromium.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import net from "node:net";
import puppeteer from "puppeteer-core";

const here = dirname(fileURLToPath(import.meta.url));
export const repo = join(here, "..", "..");

export const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

export async function startShop() {
  const target = process.env.CARGO_TARGET_DIR || join(repo, "target");
  const bin = process.env.SHOP_BIN || join(target, "debug", "shopml-shop");
  if (!existsSync(bin)) throw new Error(`no shop binary at ${bin}: run cargo build -p shopml-shop`);
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium chromium-driver`);
  const dir = mkdtempSync(join(tmpdir(), "shopml-web-"));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const env = {
    ...process.env,
    SHOP_BIND: `127.0.0.1:${port}`,
    SHOP_DATABASE: process.env.SHOP_TEST_DATABASE || join(dir, "shop.db"),
    SHOP_CHAT: "true",
    SHOP_RATE_API_PER_SEC: "1000000",
    SHOP_RATE_API_BURST: "1000000",
    SHOP_RATE_LOGIN_PER_MIN: "1000000",
    RUST_LOG: "warn,shopml_shop=info",
  };
  const proc = spawn(bin, [], { env, cwd: repo, stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  proc.stdout.on("data", (d) => (log += d));
  proc.stderr.on("data", (d) => (log += d));
  for (let i = 0; i < 600; i++) {
    try {
      const r = await fetch(`${base}/health`);
      if (r.ok) break;
    } catch {}
    if (proc.exitCode !== null) throw new Error(`the shop exited:\n${log}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const ok = await fetch(`${base}/health`).then((r) => r.ok, () => false);
  if (!ok) throw new Error(`the shop did not start:\n${log}`);
  return {
    base,
    log: () => log,
    async stop() {
      proc.kill("SIGTERM");
      await new Promise((r) => (proc.exitCode !== null ? r() : proc.on("exit", r)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function launch() {
  return puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    // As root in a container, and on a machine with no network: no sandbox, no background traffic.
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-dev-shm-usage",
    ],
  });
}

/// Clicks and waits for the navigation it causes.
export async function clickAndWait(page, selector) {
  await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.click(selector)]);
}

/// axe-core's serious and critical violations on the page.
export async function axe(page) {
  await page.addScriptTag({ path: join(here, "node_modules", "axe-core", "axe.min.js") });
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 3) }));
  });
  return result.filter((v) => v.impact === "serious" || v.impact === "critical");
}
