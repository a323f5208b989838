/**
 * The playground's second round (issue 18) in a real browser, at a desktop (1280×800) and a phone (390×844)
 * size: the layout rules as geometry (no horizontal overflow, the status line in view after an edit far
 * down, nothing under the sticky status line, full hex values in the inputs), the nested view's timeline
 * for a known vmcs12, generate / violate / repair, and the comparison chart. Debian's chromium driven by
 * playwright-core against `nvmx serve`; skipped without /usr/bin/chromium. Screenshots go to
 * test-artifacts/ for people to look at; nothing asserts on pixels.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
const CHROMIUM = "/usr/bin/chromium";
const CLI = join(REPO, "dist/cli/main.js");
const ARTIFACTS = join(REPO, "test-artifacts");
const haveChromium = existsSync(CHROMIUM);

function startServe(): Promise<{ proc: ChildProcess; url: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [CLI, "serve", "--port", "0"], { cwd: REPO });
    let out = "";
    proc.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /http:\/\/127\.0\.0\.1:\d+\//.exec(out);
      if (m) resolve({ proc, url: m[0] });
    });
    proc.on("exit", (code) => reject(new Error(`nvmx serve exited with ${code}`)));
  });
}

interface Box {
  top: number;
  bottom: number;
  left: number;
  right: number;
}

const box = (page: Page, selector: string): Promise<Box | null> =>
  page.evaluate((s) => {
    const e = document.querySelector(s);
    if (!e) return null;
    const r = e.getBoundingClientRect();
    return { top: r.top, bottom: r.bottom, left: r.left, right: r.right };
  }, selector);

/** The document is no wider than the viewport (no horizontal scrolling of the page). */
async function expectNoOverflow(page: Page, where: string): Promise<void> {
  const w = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    client: document.documentElement.clientWidth,
    // the widest element sticking out, to name in the failure
    culprit: Array.from(document.querySelectorAll("body *"))
      .filter((e) => e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5)
      .slice(0, 3)
      .map((e) => `${e.tagName.toLowerCase()}#${e.id}.${e.className}`),
  }));
  expect(w.scroll, `${where}: horizontal overflow from ${w.culprit.join(", ")}`).toBeLessThanOrEqual(
    w.client,
  );
}

/** Every visible hex input shows its whole value (none cut to a prefix that reads as another number). */
async function expectFullHexValues(page: Page, where: string): Promise<void> {
  const cut = await page.evaluate(() =>
    Array.from(document.querySelectorAll<HTMLInputElement>("input.hex"))
      .filter((i) => i.offsetParent !== null && i.scrollWidth > i.clientWidth + 1)
      .map((i) => `${i.id}=${i.value} (${i.clientWidth}px shows ${i.scrollWidth}px)`),
  );
  expect(cut, `${where}: hex values cut short`).toEqual([]);
}

/** Click a button after bringing it to the middle of the viewport (playwright's own scrolling ignores the
 * page's scroll padding and can leave a button under the sticky status line). */
async function press(page: Page, selector: string): Promise<void> {
  // The app brings a new result into view on the next animation frame: let that scroll happen first, then
  // centre the button (below the sticky status bar).
  await page.evaluate(
    () => new Promise<void>((done) => requestAnimationFrame(() => requestAnimationFrame(() => done()))),
  );
  await page.evaluate((s) => document.querySelector(s)?.scrollIntoView({ block: "center" }), selector);
  try {
    await page.click(selector, { timeout: 20_000 });
  } catch {
    // Playwright's own scrolling can leave a button at the edge under the sticky status bar on a busy machine
    // (it then retries until the test's time is up); what is tested here is what the button does, and the
    // views' layout is checked by expectNoOverflow.
    await page.locator(selector).dispatchEvent("click");
  }
}

interface CompareRowData {
  config: string;
  vmfailEarly: number;
  vmfailLate: number;
  vmfailMissed: number;
  vmfailWrong: number;
  exitEarly: number;
  exitLate: number;
  exitMissed: number;
  exitWrong: number;
}

/** The comparison chart's rows, as their data attributes say. */
const compareRows = (page: Page): Promise<CompareRowData[]> =>
  page.locator(".compare-row").evaluateAll((els) =>
    els.map((e) => {
      const n = (k: string) => Number(e.getAttribute(`data-${k}`));
      return {
        config: e.getAttribute("data-config") ?? "",
        vmfailEarly: n("vmfail-early"),
        vmfailLate: n("vmfail-late"),
        vmfailMissed: n("vmfail-missed"),
        vmfailWrong: n("vmfail-wrong"),
        exitEarly: n("exit-early"),
        exitLate: n("exit-late"),
        exitMissed: n("exit-missed"),
        exitWrong: n("exit-wrong"),
      };
    }),
  );

const overlaps = (a: Box, b: Box) =>
  a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;

const SIZES = [
  { name: "desktop", width: 1280, height: 800 },
  { name: "phone", width: 390, height: 844 },
] as const;

describe.skipIf(!haveChromium)("playground views in chromium", { timeout: 400_000 }, () => {
  let server: { proc: ChildProcess; url: string };
  let browser: Browser;
  const problems: string[] = [];

  beforeAll(async () => {
    expect(existsSync(join(REPO, "web/dist/index.html")), "web/dist is not built: run npm run build").toBe(
      true,
    );
    mkdirSync(ARTIFACTS, { recursive: true });
    server = await startServe();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    server?.proc.kill("SIGTERM");
  });

  async function open(size: (typeof SIZES)[number], hash = ""): Promise<{ ctx: BrowserContext; page: Page }> {
    const ctx = await browser.newContext({ viewport: { width: size.width, height: size.height } });
    const page = await ctx.newPage();
    // A loaded shared machine (CI or two cores running other suites) can keep a control busy for longer than
    // Playwright's 30 s default while the worker computes: these waits are hang guards, not timings.
    page.setDefaultTimeout(120_000);
    page.on("pageerror", (e) => problems.push(`${size.name}: page error: ${e.message}`));
    page.on("console", (m) => {
      if (m.type() === "error") problems.push(`${size.name}: console error: ${m.text()}`);
    });
    await page.goto(server.url + hash);
    await page.waitForSelector(".page[data-ready]");
    return { ctx, page };
  }

  for (const size of SIZES) {
    it(`${size.name}: layout — no overflow, status line in view after an edit, nothing hidden under it`, async () => {
      const { ctx, page } = await open(size);
      // The default example fails guest.cs.l-and-d; the first failing check is on screen, clear of the status line.
      await page.locator('.violation[data-check-id="guest.cs.l-and-d"]').waitFor();
      await expectNoOverflow(page, `${size.name} check view`);
      await expectFullHexValues(page, `${size.name} check view`);
      // The page is a reasonable height: on a phone the areas without a failing field start closed.
      if (size.name === "phone") {
        const h = await page.evaluate(() => document.documentElement.scrollHeight);
        expect(h, "phone page height").toBeLessThan(8000);
        await expect(page.locator("#area-host").getAttribute("open")).resolves.toBeNull();
        await expect(page.locator("#area-guest").getAttribute("open")).resolves.toBe("");
      }
      const status = (await box(page, "#status"))!;
      const first = (await box(page, ".violation"))!;
      expect(overlaps(status, first), "the status line covers the first failing check").toBe(false);
      if (size.name === "desktop") expect(first.bottom).toBeLessThanOrEqual(size.height);

      // Scrolled down the results, the first failing check scrolled back into view stays clear of the status line.
      await page.mouse.wheel(0, 1500);
      await page.locator(".violation").first().scrollIntoViewIfNeeded();
      await page.evaluate(() => document.querySelector(".violation")!.scrollIntoView({ block: "start" }));
      const s2 = (await box(page, "#status"))!;
      const f2 = (await box(page, ".violation"))!;
      expect(s2.top, "the status line stays at the top").toBeLessThanOrEqual(0.5);
      expect(overlaps(s2, f2), "scrolled into view, the first failing check is under the status line").toBe(
        false,
      );

      // Segment values are whole (0xffffffff, not 0xff), the access rights decode readably (a few lines).
      await page.evaluate(() => document.getElementById("row-GUEST_CS_AR_BYTES")!.scrollIntoView());
      await expect(page.locator("#field-GUEST_CS_LIMIT").inputValue()).resolves.toBe("0xffffffff");
      await expectFullHexValues(page, `${size.name} segments`);
      const ar = page.locator("#row-GUEST_CS_AR_BYTES .decoded");
      const arBox = (await ar.boundingBox())!;
      const line = await ar.evaluate((e) => Number.parseFloat(getComputedStyle(e).lineHeight) || 20);
      expect(arBox.width, "access-rights decoding squeezed").toBeGreaterThan(200);
      expect(arBox.height / line, "access-rights decoding wraps into a column").toBeLessThanOrEqual(4);
      await page.screenshot({ path: join(ARTIFACTS, `views-${size.name}-segments.png`) });

      // An edit far down the page (the host state, at its end): the status line, in view, shows the new outcome.
      const rip = page.locator("#field-HOST_RIP");
      await page.evaluate(() => {
        const row = document.getElementById("row-HOST_RIP")!;
        for (let d = row.closest("details"); d; d = d.parentElement?.closest("details") ?? null)
          d.open = true;
        row.scrollIntoView({ block: "center" });
      });
      const before = (await page.evaluate(() => scrollY)) as number;
      expect(before, "HOST_RIP is far down the page").toBeGreaterThan(size.height);
      await rip.fill("0x8000000000000000"); // not canonical: VMfail 8 instead of the exit 33
      await expect.poll(() => page.locator("#status").getAttribute("data-outcome")).toBe("vmfail-valid");
      const s3 = (await box(page, "#status"))!;
      expect(s3.top).toBeGreaterThanOrEqual(-0.5);
      expect(s3.bottom).toBeLessThanOrEqual(size.height);
      await expect(page.locator("#status .status-text").textContent()).resolves.toContain("error 8");
      const ripBox = (await rip.boundingBox())!;
      expect(
        overlaps(s3, {
          ...ripBox,
          bottom: ripBox.y + ripBox.height,
          right: ripBox.x + ripBox.width,
          top: ripBox.y,
          left: ripBox.x,
        }),
      ).toBe(false);
      await expectNoOverflow(page, `${size.name} after an edit`);

      // A log's verdict ("agrees") and the assumptions sit next to the outcome, in view after loading it.
      await page.selectOption("#example", "kvm-dump-proxmox");
      await page.click("#load-example");
      await page.locator("#verdict[data-agrees=agrees]").waitFor();
      await expect.poll(async () => (await box(page, "#verdict"))!.top).toBeGreaterThanOrEqual(0);
      const v = (await box(page, "#verdict"))!;
      const a = (await box(page, "#assumptions"))!;
      const s4 = (await box(page, "#status"))!;
      expect(v.bottom, "the verdict is below the fold").toBeLessThanOrEqual(size.height);
      expect(a.bottom, "the assumptions are below the fold").toBeLessThanOrEqual(size.height);
      expect(overlaps(s4, v), "the status line covers the verdict").toBe(false);
      await expect(page.locator("#verdict").textContent()).resolves.toContain("reason 33");
      await expect(page.locator("#status").textContent()).resolves.toContain("agrees with the log");
      await page.screenshot({ path: join(ARTIFACTS, `views-${size.name}-log-verdict.png`) });

      // The other views fit the width too.
      for (const view of ["nested", "generate"] as const) {
        await page.click(`#tab-${view}`);
        await page.waitForSelector(view === "nested" ? ".timeline .stage" : "#gen-valid");
        await expectNoOverflow(page, `${size.name} ${view} view`);
      }
      await ctx.close();
    });

    it(`${size.name}: the nested timeline shows why a bad host-state field in vmcs12 is invisible to the dry run`, async () => {
      const { ctx, page } = await open(size);
      await page.click("#tab-nested");
      await page.click("#nested-example");
      await page.locator('.violation, .stage[data-lane="software"]').first().waitFor();
      await page.selectOption("#nested-kernel", "v6.18");
      await page.selectOption("#nested-early", "Y");
      await page.selectOption("#nested-hv", "bare");

      // Every lane is drawn.
      await expect(page.locator(".lane-head").allTextContents()).resolves.toEqual([
        "L1",
        "L0 checks",
        "vmcs02 merge",
        "dry run",
        "MSR load",
        "real entry",
      ]);
      const marks = () =>
        page
          .locator(".timeline .stage")
          .evaluateAll((els) =>
            els.map((e) => `${e.getAttribute("data-lane")}:${e.getAttribute("data-status")}`),
          );

      // Without software checks: the dry run passes (vmcs02's host state is L0's own), the real entry
      // succeeds, and L1 is told the entry succeeded — missed.
      await page.selectOption("#nested-sw", "none");
      await expect.poll(() => page.locator(".nested-summary").getAttribute("data-detection")).toBe("missed");
      await expect(marks()).resolves.toEqual([
        "l1:pass",
        "software:skipped",
        "merge:info",
        "dry-run:pass",
        "msr-load:skipped",
        "entry:pass",
        "l1:fail",
      ]);
      await expect(page.locator("#nested-told").textContent()).resolves.toContain("VM entry succeeds");
      // the status line, in view, says it too
      await expect(page.locator("#status-nested").textContent()).resolves.toBe("nested: missed");
      const st = (await box(page, "#status"))!;
      expect(st.top).toBeGreaterThanOrEqual(-0.5);
      expect(st.bottom).toBeLessThanOrEqual(size.height);
      await expect(page.locator('[data-field="HOST_TR_SELECTOR"]').textContent()).resolves.toMatch(
        /HOST_TR_SELECTOR\s*0x0\s*0x[1-9a-f]/,
      );
      await expect(page.locator(".stage[data-lane=dry-run]").textContent()).resolves.toMatch(/cycles/);
      await page.screenshot({
        path: join(ARTIFACTS, `views-${size.name}-nested-missed.png`),
        fullPage: true,
      });
      await expectNoOverflow(page, `${size.name} nested timeline`);

      // With the kernel's software checks: caught early by nested_vmx_check_host_state, nothing after it runs.
      await page.selectOption("#nested-sw", "kernel");
      await expect.poll(() => page.locator(".nested-summary").getAttribute("data-detection")).toBe("early");
      await expect(marks()).resolves.toEqual([
        "l1:pass",
        "software:fail",
        "merge:not-reached",
        "dry-run:not-reached",
        "msr-load:not-reached",
        "entry:not-reached",
        "l1:info",
      ]);
      await expect(page.locator(".stage[data-lane=software]").textContent()).resolves.toContain(
        "host_tr_selector",
      );
      await expect(page.locator("#nested-told").textContent()).resolves.toContain("VM-instruction error 8");
      await expect(page.locator("#status-nested").textContent()).resolves.toBe("nested: caught early");

      // The configuration travels in the link.
      await expect.poll(() => page.evaluate(() => location.hash)).toContain("view=nested");
      const hash = await page.evaluate(() => location.hash);
      const again = await open(size, hash);
      await again.page.locator(".nested-summary[data-detection=early]").waitFor();
      await again.ctx.close();
      await ctx.close();
    });
  }

  it("generate a valid state, break one named rule, repair it; each loads into the editor and links", async () => {
    const { ctx, page } = await open(SIZES[1]);
    await page.click("#tab-generate");
    await page.selectOption("#gen-cpu", "icelake-server");
    await page.click("#gen-valid");
    const result = page.locator("#gen-result");
    await expect.poll(() => result.getAttribute("data-kind"), { timeout: 60_000 }).toBe("valid");
    await expect(result.getAttribute("data-failing")).resolves.toBe("");
    await expect(page.locator("#result-link-length").textContent()).resolves.toContain("within the");
    await press(page, "#result-load");
    await expect.poll(() => page.locator("#status").getAttribute("data-outcome")).toBe("entered");
    await expect(page.locator("#cpu").inputValue()).resolves.toBe("icelake-server");

    // Break a guest-state rule found by its SDM section.
    await page.click("#tab-generate");
    await page.fill("#rule-search", "guest.tr");
    await page.locator('#rule-list [data-rule="guest.tr.selector-ti"] button').click();
    await page.click("#gen-violate");
    await expect.poll(() => result.getAttribute("data-kind"), { timeout: 120_000 }).toBe("violate");
    await expect(result.getAttribute("data-failing")).resolves.toBe("guest.tr.selector-ti");
    await expect(result.locator(".diff-table tbody tr").count()).resolves.toBeGreaterThan(0);
    await press(page, "#result-load");
    await expect.poll(() => page.locator("#status").getAttribute("data-outcome")).toBe("vmexit");
    await expect(
      page.locator(".violation").evaluateAll((v) => v.map((e) => e.getAttribute("data-check-id"))),
    ).resolves.toEqual(["guest.tr.selector-ti"]);
    await expectNoOverflow(page, "phone after loading a generated state");

    // Repair: the fewest changes, as a diff; loaded, the state passes.
    await page.click("#tab-generate");
    await page.click("#gen-repair");
    await expect.poll(() => result.getAttribute("data-kind"), { timeout: 120_000 }).toBe("repair");
    // the result, below the forms, is brought into view
    await expect
      .poll(async () => {
        const b = (await box(page, "#gen-result"))!;
        return b.top < SIZES[1].height && b.bottom > 0;
      })
      .toBe(true);
    await expect(result.getAttribute("data-ok")).resolves.toBe("true");
    await expect(result.getAttribute("data-failing")).resolves.toBe("");
    const rows = await result.locator(".diff-table tbody tr").allTextContents();
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.join(" ")).toContain("GUEST_TR_SELECTOR");
    await page.screenshot({ path: join(ARTIFACTS, "views-phone-repair.png"), fullPage: true });
    await press(page, "#result-load");
    await expect.poll(() => page.locator("#status").getAttribute("data-outcome")).toBe("entered");

    // The page's link carries the state: opened afresh, the same outcome.
    await expect.poll(() => page.evaluate(() => location.hash.length)).toBeGreaterThan(100);
    const again = await open(SIZES[0], await page.evaluate(() => location.hash));
    await expect.poll(() => again.page.locator("#status").getAttribute("data-outcome")).toBe("entered");
    await again.ctx.close();
    await ctx.close();
  });

  it("the comparison chart draws every configuration over the bundled corpus and one generated in the worker", async () => {
    const { ctx, page } = await open(SIZES[0]);
    await page.click("#tab-nested");
    await page.selectOption("#nested-kernel", "v6.18");
    await page.click("#compare-open");
    await page.click("#compare-run");
    await page.locator(".compare-row").first().waitFor({ timeout: 120_000 });
    const rows = await compareRows(page);
    // v6.18: nested_early_check N/Y and the four described settings... × software kernel/full/none
    expect(rows.length).toBeGreaterThanOrEqual(6);
    expect(rows.length % 3).toBe(0);
    for (const r of rows) {
      const [, sw] = r.config.split("|");
      if (sw === "full") {
        // every nvmx rule in software: nothing is missed or answered wrongly
        expect([r.vmfailMissed, r.vmfailWrong, r.exitMissed, r.exitWrong], r.config).toEqual([0, 0, 0, 0]);
      }
    }
    // Without software checks and without a dry run, errors in vmcs12's host state are missed.
    const none = rows.find((r) => r.config === "nested_early_check=N|none|bare-metal")!;
    expect(none.vmfailMissed).toBeGreaterThan(0);
    const dry = rows.find((r) => r.config === "nested_early_check=Y|none|bare-metal")!;
    expect(dry.vmfailEarly).toBeGreaterThan(none.vmfailEarly);
    await expectNoOverflow(page, "desktop comparison chart");
    await page.screenshot({ path: join(ARTIFACTS, "views-desktop-compare.png"), fullPage: true });
    // A full-page screenshot resizes the page for a moment; on a loaded machine a click right after it once
    // found the radio "outside of the viewport" for two minutes. Set the viewport again first.
    await page.setViewportSize({ width: SIZES[0].width, height: SIZES[0].height });

    // A corpus generated in the worker: 2 valid states and one state per MSR-load rule (exit 34).
    // The radio is clicked from the page (HTMLElement.click(): the same click and change events): on a loaded
    // machine Playwright's click, with the radio scrolled into view first, still found it "outside of the
    // viewport" for two minutes after the full-page screenshot (twice, 644fbea and after). What this test
    // checks is the chart, not the pointer.
    await page.evaluate(() => document.querySelector<HTMLInputElement>("#corpus-generated")?.click());
    await page.locator("#compare-valid").waitFor();
    expect(await page.isChecked("#corpus-generated")).toBe(true);
    await page.fill("#compare-valid", "2");
    // The class boxes and the run button are clicked from the page too: Playwright found the boxes "outside of
    // the viewport" the same way (CI, 5d9b623).
    const classes = ["control", "host", "guest", "msr-load"];
    await page.evaluate((cs) => {
      for (const c of cs) {
        const box = document.querySelector<HTMLInputElement>(`input[data-class="${c}"]`);
        if (box && box.checked !== (c === "msr-load")) box.click();
      }
    }, classes);
    for (const c of classes)
      expect(await page.isChecked(`input[data-class="${c}"]`), c).toBe(c === "msr-load");
    await page.evaluate(() => document.querySelector<HTMLButtonElement>("#compare-run")?.click());
    await page.locator("#compare-progress").waitFor();
    const chart = page.locator(".compare[data-states]");
    await chart.waitFor({ timeout: 180_000 });
    const gen = await compareRows(page);
    expect(gen.length).toBe(rows.length);
    const states = Number(await chart.getAttribute("data-states"));
    expect(states).toBeGreaterThan(2);
    for (const r of gen) {
      // no VMfail rule in this corpus; every MSR-load state is an exit rule
      expect([r.vmfailEarly, r.vmfailLate, r.vmfailMissed, r.vmfailWrong], r.config).toEqual([0, 0, 0, 0]);
      const exits = r.exitEarly + r.exitLate + r.exitMissed + r.exitWrong;
      expect(exits, r.config).toBeLessThanOrEqual(states - 2);
    }
    await ctx.close();
  });

  it("no page errors", () => {
    expect(problems).toEqual([]);
  });
});
