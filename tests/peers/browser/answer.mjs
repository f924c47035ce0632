// Drives the dashboard page in Debian's chromium (headless) for tests/tests/dashboard.rs:
//   node answer.mjs URL OUT_DIR
// Waits for a ringing call, takes screenshots at desktop and phone widths (and fails when the
// page is wider than the window), clicks Answer, waits for "in call", presses 5, then waits
// for a line "HANGUP" on stdin (the test has seen the digit arrive), clicks Hang up and waits
// until the call has left the page. Prints one line per step: RINGING, ANSWERED, DIGIT, DONE.
import { hangUpWhenTold, run } from "./browser.mjs";

const [url, out] = process.argv.slice(2);

await run([], { width: 1280, height: 800 }, async (page) => {
  await page.goto(url);
  const shots = async (name) => {
    for (const [w, h, label] of [[1280, 800, "desktop"], [390, 844, "phone"]]) {
      await page.setViewportSize({ width: w, height: h });
      await page.screenshot({ path: `${out}/${name}-${label}.png`, fullPage: true });
      const wide = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      if (wide > 0) throw new Error(`${name} at ${label} width: ${wide} px wider than the window`);
    }
    await page.setViewportSize({ width: 1280, height: 800 });
  };

  await page.waitForSelector('[data-call][data-state="ringing"]', { timeout: 15000 });
  console.log("RINGING");
  await shots("ringing");
  await page.click('[data-state="ringing"] button[data-action="answer"]');
  await page.waitForSelector('[data-call][data-state="in call"]', { timeout: 10000 });
  console.log("ANSWERED");
  await shots("in-call");
  await page.click('[data-state="in call"] button[data-digit="5"]');
  console.log("DIGIT");
  await hangUpWhenTold(page);
  const error = await page.textContent("#error");
  if (error.trim()) throw new Error(`the page reported: ${error}`);
  console.log("DONE");
});
