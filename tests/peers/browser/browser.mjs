// What the dashboard's browser scripts share (tests/tests/dashboard.rs, and
// bench/talk_latency.mjs for `launch`): Debian's chromium, headless, without the background
// connections this machine's closed network refuses, with `extra` arguments (a fake
// microphone, autoplay); a script's run with its exit status; the test's lines on stdin;
// and the end of a call that the test has said may end.
import { chromium } from "playwright-core";
import { createInterface } from "node:readline";

export function launch(extra = []) {
  return chromium.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           ...extra],
  });
}

// Runs `body(page)` on a new page of a new browser, then exits: 0, or 1 with the error on
// stderr.
export async function run(extra, viewport, body) {
  const browser = await launch(extra);
  let failed = false;
  try {
    const page = await browser.newPage({ viewport });
    page.on("console", (m) => console.error("page:", m.text()));
    await body(page);
  } catch (e) {
    console.error(String((e && e.stack) || e));
    failed = true;
  } finally {
    await browser.close();
    if (stdin) stdin.close();
  }
  process.exit(failed ? 1 : 0);
}

// The test's lines, read once a script asks for the first.
let stdin = null;
export function nextLine() {
  stdin ??= createInterface({ input: process.stdin });
  return new Promise((resolve) => stdin.once("line", resolve));
}

// Waits for the test's "HANGUP", clicks Hang up on the call in progress and waits until the
// call has left the page.
export async function hangUpWhenTold(page) {
  const line = await nextLine();
  if (line.trim() !== "HANGUP") throw new Error(`expected HANGUP, got ${line}`);
  await page.click('[data-state="in call"] button[data-action="hangup"]');
  await page.waitForSelector("[data-call]", { state: "detached", timeout: 10000 });
}
