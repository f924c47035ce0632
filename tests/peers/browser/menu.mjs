// The dashboard's menu checker and simulator in chromium (tests/tests/dashboard.rs):
//   node menu.mjs URL OUT_DIR
// With the account's menu file chosen: Check says it is valid; Simulate with "1" gives a
// transcript; with YAML pasted that does not load: Check shows the loader's error. Prints
// each output between lines "--- NAME" for the test to read, then DONE.
import { chromium } from "playwright-core";

const [url, out] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
let failed = false;
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(url);
  await page.waitForSelector('#menu-file option[value="1"]', { state: "attached", timeout: 10000 });
  const run = async (name, button) => {
    await page.evaluate(() => { const o = document.getElementById("menu-output"); o.textContent = ""; });
    await page.click(button);
    await page.waitForFunction(() => document.getElementById("menu-output").textContent.length > 0);
    console.log("--- " + name);
    console.log(await page.textContent("#menu-output"));
  };
  await run("check", "#menu-check");
  await page.fill("#menu-digits", "1");
  await run("simulate", "#menu-simulate");
  await page.screenshot({ path: `${out}/menu-desktop.png`, fullPage: true });
  await page.selectOption("#menu-file", "");
  await page.fill("#menu-yaml", "menu:\n  message: Hi\n  choices:\n    1: [unclosed\n");
  await run("broken", "#menu-check");
  await page.setViewportSize({ width: 390, height: 844 });
  const wide = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (wide > 0) throw new Error(`the menu section at phone width: ${wide} px wider than the window`);
  await page.screenshot({ path: `${out}/menu-phone.png`, fullPage: true });
  console.log("DONE");
} catch (e) {
  console.error(String(e && e.stack || e));
  failed = true;
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
