// Drives the agent panel in headless Chromium (Debian's /usr/bin/chromium through
// playwright-core; no browser download) for crates/server/tests/agent_ui.rs.
//
// Usage: node drive.mjs '<json>' with {base, page, embed, foreign, expired, shots, chromium?}.
// Talks to the Rust test over stdio: prints `STEP <name> <json>` lines, and after
// each step that the test checks through the API waits for a `go` line on stdin.
// Exits non-zero with `FAIL <message>` when an expectation does not hold.
import { chromium } from "playwright-core";
import { createInterface } from "node:readline";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const cfg = JSON.parse(process.argv[2] || "{}");
const lines = createInterface({ input: process.stdin });
const pending = [];
const waiters = [];
lines.on("line", (l) => (waiters.length ? waiters.shift()(l) : pending.push(l)));
const nextLine = () => new Promise((r) => (pending.length ? r(pending.shift()) : waiters.push(r)));

function step(name, data = {}) {
  process.stdout.write(`STEP ${name} ${JSON.stringify(data)}\n`);
}
async function checkpoint(name, data) {
  step(name, data);
  const reply = await nextLine();
  if (reply !== "go") throw new Error(`test said ${reply} after ${name}`);
}
function expect(cond, message) {
  if (!cond) throw new Error(message);
}

mkdirSync(cfg.shots, { recursive: true });
const browser = await chromium.launch({
  executablePath: cfg.chromium || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu"],
});
try {
  // bypassCSP: waitForFunction evaluates its predicate as a string, which the
  // panel's CSP (script-src 'self') forbids; the page itself needs no exception.
  const context = await browser.newContext({ viewport: { width: 720, height: 980 }, bypassCSP: true });
  const page = await context.newPage();
  const shot = (name) => page.screenshot({ path: join(cfg.shots, `${name}.png`), fullPage: true });
  const num = (sel) => page.$eval(sel, (e) => Number(e.value));
  const text = (sel) => page.textContent(sel);
  const T = 180_000;

  // 1. The page opens, the event stream delivers the first state.
  const resp = await page.goto(cfg.base + cfg.page);
  expect(resp.status() === 200, `page status ${resp.status()}`);
  await page.waitForSelector("body[data-ready='1']", { timeout: 30_000 });
  expect((await text("#connection")).startsWith("Live"), `connection: ${await text("#connection")}`);
  await shot("01-waiting-for-speech");
  step("ready");

  // 2. Speech arrives: authentication progress rises, then a decision appears.
  await page.waitForFunction(() => Number(document.querySelector("#auth-progress").value) > 0, null, { timeout: T });
  const first = await num("#auth-progress");
  await page.waitForFunction(
    (v) => Number(document.querySelector("#auth-progress").value) > v,
    first,
    { timeout: T },
  );
  const second = await num("#auth-progress");
  await shot("02-listening");
  await page.waitForFunction(() => document.querySelector("#decision").dataset.outcome === "NotEnrolled", null, { timeout: T });
  const decision = await text("#decision");
  expect(decision === "Not enrolled", `decision text ${decision}`);
  await shot("03-not-enrolled");
  step("decision", { first, second, decision, detail: await text("#decision-detail") });

  // 3. Enrollment progress reaches 30 s of net speech.
  await page.waitForFunction(() => {
    const p = document.querySelector("#enroll-progress");
    return Number(p.value) >= Number(p.max);
  }, null, { timeout: T });
  await shot("04-enough-speech");
  step("enough-speech", { enroll: await num("#enroll-progress"), fraud: await text("#fraud") });

  // 4. Enroll, with the keyboard (the buttons are real, focusable buttons).
  await page.focus("#btn-enroll");
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => document.querySelector("#action-result").textContent.startsWith("Enroll done"), null, { timeout: T });
  await page.waitForFunction(() => document.querySelector("#speaker-status").dataset.status === "ENROLLED", null, { timeout: 30_000 });
  await shot("05-enrolled");
  await checkpoint("enrolled", { result: await text("#action-result") });

  // 5. Evaluate again: the enrolled caller is now authenticated.
  await page.click("#btn-evaluate");
  await page.waitForFunction(() => document.querySelector("#action-result").textContent.startsWith("Evaluate again done"), null, { timeout: T });
  await page.waitForFunction(() => document.querySelector("#decision").dataset.outcome === "Authenticated", null, { timeout: 30_000 });
  await shot("06-authenticated");
  await checkpoint("evaluated", { result: await text("#action-result"), decision: await text("#decision"), detail: await text("#decision-detail") });

  // 6. Changing the speaker after an enrollment is refused: the error is shown plainly.
  await page.fill("#speaker-input", "someone-else");
  await page.press("#speaker-input", "Enter");
  await page.waitForFunction(() => document.querySelector("#action-error").textContent.length > 0, null, { timeout: T });
  const updateError = await text("#action-error");
  await shot("07-action-error");
  step("update-refused", { error: updateError });

  // 7. Opt out.
  await page.click("#btn-optout");
  await page.waitForFunction(() => document.querySelector("#action-result").textContent.startsWith("Opt out done"), null, { timeout: T });
  await page.waitForFunction(() => document.querySelector("#speaker-status").dataset.status === "OPTED_OUT", null, { timeout: 30_000 });
  await shot("08-opted-out");
  await checkpoint("opted-out", { result: await text("#action-result") });

  // 8. The embeddable variant: same panel, no page chrome.
  const embed = await context.newPage();
  const er = await embed.goto(cfg.base + cfg.embed);
  expect(er.status() === 200, `embed status ${er.status()}`);
  await embed.waitForSelector("body[data-ready='1']", { timeout: 30_000 });
  const chromeHidden = await embed.$eval("header.chrome", (e) => getComputedStyle(e).display === "none");
  expect(chromeHidden, "embed shows the page header");
  await embed.screenshot({ path: join(cfg.shots, "09-embed.png"), fullPage: true });
  await embed.close();

  // 9. A foreign and an expired token: page and event stream refused.
  const refusals = {};
  for (const [name, url] of [["foreign", cfg.foreign], ["expired", cfg.expired]]) {
    const r = await page.goto(cfg.base + url);
    const sse = await page.evaluate(async (u) => {
      const res = await fetch(u.replace("/agent?", "/agent/events?"));
      return res.status;
    }, url);
    refusals[name] = { page: r.status(), events: sse, reason: await text("#denied-reason") };
    await shot(`10-refused-${name}`);
  }
  step("refused", refusals);
  step("done");
} catch (e) {
  process.stdout.write(`FAIL ${String(e && e.stack ? e.stack : e).replace(/\n/g, " | ")}\n`);
  process.exitCode = 1;
} finally {
  await browser.close();
  lines.close();
}
