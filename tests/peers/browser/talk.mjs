// Talk from the dashboard in chromium with a fake microphone (tests/tests/dashboard.rs):
//   node talk.mjs URL MIC.wav HZ
// Waits for a ringing call, clicks Talk (which answers it), waits until WebRTC is
// connected, then until the page hears the call's tone (HZ, ±40 Hz) for a second, printing
// CONNECTED and HEARD <frequency>; then waits for a line "HANGUP" on stdin, clicks Hang up,
// waits until the call has left the page and prints DONE.
import { hangUpWhenTold, run } from "./browser.mjs";

const [url, mic, hz] = process.argv.slice(2);
const want = Number(hz);
const microphone = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                    `--use-file-for-fake-audio-capture=${mic}`, "--autoplay-policy=no-user-gesture-required"];

await run(microphone, { width: 1280, height: 800 }, async (page) => {
  await page.goto(url);
  await page.waitForSelector('[data-call][data-state="ringing"]', { timeout: 15000 });
  await page.click('[data-state="ringing"] button[data-action="talk"]');
  await page.waitForFunction(() => window.talkState === "connected", null, { timeout: 15000 });
  console.log("CONNECTED");
  // Ten readings in a row (one second) at the call's tone.
  let inRow = 0, last = null;
  const t0 = Date.now();
  while (inRow < 10) {
    if (Date.now() - t0 > 15000) throw new Error(`never heard ${want} Hz; last: ${JSON.stringify(last)}`);
    await page.waitForTimeout(100);
    last = await page.evaluate(() => window.talkHeard || null);
    inRow = last && last.level > -70 && Math.abs(last.freq - want) <= 40 ? inRow + 1 : 0;
  }
  console.log(`HEARD ${last.freq.toFixed(1)}`);
  await hangUpWhenTold(page);
  console.log("DONE");
});
