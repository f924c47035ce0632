// Talk from the dashboard in chromium with a fake microphone (tests/tests/dashboard.rs):
//   node talk.mjs URL MIC.wav HZ
// Waits for a ringing call, clicks Talk (which answers it), waits until WebRTC is
// connected, then until the page hears the call's tone (HZ, ±40 Hz) for a second, printing
// CONNECTED and HEARD <frequency>; then waits for a line "HANGUP" on stdin, clicks Hang up,
// waits until the call has left the page and prints DONE.
import { chromium } from "playwright-core";
import { createInterface } from "node:readline";

const [url, mic, hz] = process.argv.slice(2);
const want = Number(hz);
const lines = createInterface({ input: process.stdin });
const nextLine = () => new Promise((resolve) => lines.once("line", resolve));
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
         `--use-file-for-fake-audio-capture=${mic}`, "--autoplay-policy=no-user-gesture-required"],
});
let failed = false;
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.on("console", (m) => console.error("page:", m.text()));
  await page.goto(url);
  await page.waitForSelector('[data-call][data-state="ringing"]', { timeout: 15000 });
  await page.click('[data-state="ringing"] button[data-action="talk"]');
  await page.waitForFunction(() => window.talkState === "connected", null, { timeout: 15000 });
  console.log("CONNECTED");
  // Ten readings in a row (one second) at the call's tone.
  let run = 0, last = null;
  const t0 = Date.now();
  while (run < 10) {
    if (Date.now() - t0 > 15000) throw new Error(`never heard ${want} Hz; last: ${JSON.stringify(last)}`);
    await page.waitForTimeout(100);
    last = await page.evaluate(() => window.talkHeard || null);
    run = last && last.level > -70 && Math.abs(last.freq - want) <= 40 ? run + 1 : 0;
  }
  console.log(`HEARD ${last.freq.toFixed(1)}`);
  const line = await nextLine();
  if (line.trim() !== "HANGUP") throw new Error(`expected HANGUP, got ${line}`);
  await page.click('[data-state="in call"] button[data-action="hangup"]');
  await page.waitForSelector("[data-call]", { state: "detached", timeout: 10000 });
  console.log("DONE");
} catch (e) {
  console.error(String(e && e.stack || e));
  failed = true;
} finally {
  await browser.close();
  lines.close();
}
process.exit(failed ? 1 : 0);
