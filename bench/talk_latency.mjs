// The browser side of bench/talk_latency.py: the dashboard in Debian's chromium, with a
// microphone that is an oscillator (1 kHz) the bench switches on and off, and a detector on
// the call's audio in the page's WebAudio graph.
//   node talk_latency.mjs URL
// Clicks Talk on the ringing call and prints CONNECTED. Then, per line on stdin:
//   ARM      arms the detector and prints ARMED; then HEARD <epoch ms> when the call's
//            audio gets loud
//   TONE     the microphone's tone on; prints TONE <epoch ms> (when it was switched on)
//   QUIET    the tone off; prints QUIET
//   BYE      hangs up with the page and exits
// Times are epoch milliseconds (performance.timeOrigin + performance.now()), the same clock
// as the bench's time.time().
import { launch } from "./browser.mjs";
import { createInterface } from "node:readline";

const [url] = process.argv.slice(2);
const browser = await launch(["--use-fake-ui-for-media-stream", "--autoplay-policy=no-user-gesture-required"]);
const page = await browser.newPage();
page.on("console", (m) => console.error("page:", m.text()));
await page.addInitScript(() => {
  const now = () => performance.timeOrigin + performance.now();
  navigator.mediaDevices.getUserMedia = async () => {
    const ctx = new AudioContext();
    const osc = ctx.createOscillator();
    osc.frequency.value = 1000;
    const gain = ctx.createGain();
    gain.gain.value = 0;
    const dest = ctx.createMediaStreamDestination();
    osc.connect(gain).connect(dest);
    osc.start();
    window.benchTone = (on) => { gain.gain.setValueAtTime(on ? 0.5 : 0, ctx.currentTime); return now(); };
    return dest.stream;
  };
  // The detector: the call's audio, as the page plays it, in 256-sample windows.
  const Real = window.RTCPeerConnection;
  window.RTCPeerConnection = function (...args) {
    const pc = new Real(...args);
    pc.addEventListener("track", (e) => {
      const ctx = new AudioContext();
      const stream = e.streams[0] || new MediaStream([e.track]);
      const keep = new Audio(); keep.srcObject = stream; keep.muted = true; keep.play().catch(() => {});
      const an = ctx.createAnalyser();
      an.fftSize = 256;
      ctx.createMediaStreamSource(stream).connect(an);
      const buf = new Float32Array(an.fftSize);
      window.benchArmed = false;
      const poll = () => {
        an.getFloatTimeDomainData(buf);
        let sum = 0;
        for (const x of buf) sum += x * x;
        const rms = Math.sqrt(sum / buf.length);
        if (window.benchArmed && rms > 0.05) { window.benchArmed = false; window.benchHeard = now(); }
        setTimeout(poll, 1);
      };
      poll();
    });
    return pc;
  };
});
await page.goto(url);
await page.waitForSelector('[data-call][data-state="ringing"]', { timeout: 15000 });
await page.click('[data-state="ringing"] button[data-action="talk"]');
await page.waitForFunction(() => window.talkState === "connected", null, { timeout: 15000 });
console.log("CONNECTED");

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  const cmd = line.trim();
  if (cmd === "ARM") {
    await page.evaluate(() => { window.benchHeard = null; window.benchArmed = true; });
    console.log("ARMED");
    const t = await page.waitForFunction(() => window.benchHeard, null, { timeout: 10000, polling: 1 });
    console.log(`HEARD ${await t.jsonValue()}`);
  } else if (cmd === "TONE") {
    console.log(`TONE ${await page.evaluate(() => window.benchTone(true))}`);
  } else if (cmd === "QUIET") {
    await page.evaluate(() => window.benchTone(false));
    console.log("QUIET");
  } else if (cmd === "BYE") {
    break;
  }
}
await browser.close();
process.exit(0);
