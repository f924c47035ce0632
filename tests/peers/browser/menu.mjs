// The dashboard's menu checker and simulator in chromium (tests/tests/dashboard.rs):
//   node menu.mjs URL OUT_DIR
// With the account's menu file chosen: Check says it is valid; Simulate with "1" gives a
// transcript; with YAML pasted that does not load: Check shows the loader's error. Prints
// each output between lines "--- NAME" for the test to read, then DONE.
import { run } from "./browser.mjs";

const [url, out] = process.argv.slice(2);

await run([], { width: 1280, height: 900 }, async (page) => {
  await page.goto(url);
  await page.waitForSelector('#menu-file option[value="1"]', { state: "attached", timeout: 10000 });
  const press = async (name, button) => {
    await page.evaluate(() => { document.getElementById("menu-output").textContent = ""; });
    await page.click(button);
    await page.waitForFunction(() => document.getElementById("menu-output").textContent.length > 0);
    console.log("--- " + name);
    console.log(await page.textContent("#menu-output"));
  };
  await press("check", "#menu-check");
  await page.fill("#menu-digits", "1");
  await press("simulate", "#menu-simulate");
  await page.screenshot({ path: `${out}/menu-desktop.png`, fullPage: true });
  await page.selectOption("#menu-file", "");
  await page.fill("#menu-yaml", "menu:\n  message: Hi\n  choices:\n    1: [unclosed\n");
  await press("broken", "#menu-check");
  await page.setViewportSize({ width: 390, height: 844 });
  const wide = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (wide > 0) throw new Error(`the menu section at phone width: ${wide} px wider than the window`);
  await page.screenshot({ path: `${out}/menu-phone.png`, fullPage: true });
  console.log("DONE");
});
