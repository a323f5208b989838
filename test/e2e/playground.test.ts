/// <reference lib="dom" />
/**
 * The playground in a real browser (issue 8): Debian's chromium driven by playwright-core, against the page
 * `nvmx serve` serves from web/dist. Needs `npm run build` first (npm test runs it). Never downloads a
 * browser: without /usr/bin/chromium the test is skipped (CI installs it, see .ci/run).
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
const CHROMIUM = "/usr/bin/chromium";
const CLI = join(REPO, "dist/cli/main.js");
const ARTIFACTS = join(REPO, "test-artifacts");
const haveChromium = existsSync(CHROMIUM);
const KVM_DUMP = "test/corpus/kvm-dump/kvm-list-2022-proxmox-smm-sti-shadow-if0.txt";

if (!haveChromium)
  console.warn(
    `playground e2e test skipped: ${CHROMIUM} is missing (install Debian's chromium: apt-get install -y chromium)`,
  );

/** Start `nvmx serve --port 0` and read the URL it prints. */
function startServe(): Promise<{ proc: ChildProcess; url: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [CLI, "serve", "--port", "0"], { cwd: REPO });
    let out = "";
    let err = "";
    proc.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /http:\/\/127\.0\.0\.1:\d+\//.exec(out);
      if (m) resolve({ proc, url: m[0] });
    });
    proc.stderr.on("data", (d: Buffer) => {
      err += d.toString();
    });
    proc.on("exit", (code) => reject(new Error(`nvmx serve exited with ${code}: ${err}`)));
  });
}

function cliCheck(file: string): { outcome: { type: string; error?: number; reason?: number } } {
  const out = execFileSync(process.execPath, [CLI, "check", "--json", file], { cwd: REPO, encoding: "utf8" });
  return JSON.parse(out.trim().split("\n")[0]!);
}

describe.skipIf(!haveChromium)("playground in chromium", () => {
  let server: { proc: ChildProcess; url: string };
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];

  beforeAll(async () => {
    expect(existsSync(join(REPO, "web/dist/index.html")), "web/dist is not built: run npm run build").toBe(
      true,
    );
    mkdirSync(ARTIFACTS, { recursive: true });
    server = await startServe();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
      ],
    });
    const context = await browser.newContext({
      viewport: { width: 1440, height: 900 },
      acceptDownloads: true,
    });
    page = await context.newPage();
    const origin = new URL(server.url).origin;
    // The page must never reach beyond its own origin (it works offline; nothing leaves the machine).
    page.on("request", (r) => {
      const u = r.url();
      if (!u.startsWith(origin) && !u.startsWith("data:") && !u.startsWith("blob:"))
        problems.push(`external request: ${u}`);
    });
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    page.on("console", (m) => {
      if (m.type() === "error") problems.push(`console error: ${m.text()}`);
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    server?.proc.kill("SIGTERM");
  });

  const outcome = () => page.locator("#outcome");

  it("loads, checks a pasted failing document, re-checks on edits and control-bit toggles, exports", async () => {
    await page.goto(server.url);
    await page.waitForSelector(".page[data-ready]");

    // A valid example enters the guest.
    await page.selectOption("#example", "valid-64bit-linux");
    await page.click("#load-example");
    await expect.poll(() => outcome().getAttribute("data-outcome")).toBe("entered");
    await expect(outcome().textContent()).resolves.toContain("VM entry succeeds");

    // Paste a real KVM dump_vmcs (Proxmox, 2022: an SMI in an STI shadow left "blocking by STI" with RFLAGS.IF = 0).
    const dump = readFileSync(join(REPO, KVM_DUMP), "utf8");
    await page.fill("#paste", dump);
    await page.click("#load-paste");
    const sti = page.locator('[data-check-id="guest.intr.sti-if"]');
    await sti.waitFor();
    await expect(page.locator("#load-status").textContent()).resolves.toContain("Linux KVM dump_vmcs");
    await expect(outcome().textContent()).resolves.toContain("VM entry fails: VM exit 33");
    const [dumpDownload] = await Promise.all([page.waitForEvent("download"), page.click("#download")]);
    const dumpExport = join(ARTIFACTS, "playground-kvm-dump.json");
    await dumpDownload.saveAs(dumpExport);
    expect(cliCheck(dumpExport).outcome).toEqual({ type: "vmexit", reason: 33, qualification: 0 });

    // Paste a failing document: the expected violation, its SDM section and the outcome appear.
    const bad = readFileSync(join(REPO, "examples/bad-cs-ar.json"), "utf8");
    await page.fill("#paste", bad);
    await page.click("#load-paste");
    const violation = page.locator('[data-check-id="guest.cs.l-and-d"]');
    await violation.waitFor();
    await expect(violation.textContent()).resolves.toContain("SDM 29.3.1.2");
    await expect(outcome().textContent()).resolves.toContain("VM entry fails: VM exit 33");

    // The field link jumps to the field's input.
    await violation.getByRole("button", { name: "GUEST_CS_AR_BYTES" }).click();
    await expect.poll(() => page.evaluate(() => document.activeElement?.id)).toBe("field-GUEST_CS_AR_BYTES");

    // A malformed value is reported inline and not applied.
    const ar = page.locator("#field-GUEST_CS_AR_BYTES");
    await ar.fill("0xzz");
    await expect(ar.getAttribute("aria-invalid")).resolves.toBe("true");
    await expect(page.locator("#field-GUEST_CS_AR_BYTES-error").textContent()).resolves.toContain(
      "not a hex number",
    );
    expect(await outcome().getAttribute("data-outcome")).toBe("vmexit");

    // Clearing D/B (64-bit code segment) fixes the state: live re-check.
    await ar.fill("0xa09b");
    await expect.poll(() => outcome().getAttribute("data-outcome")).toBe("entered");
    await expect(violation.count()).resolves.toBe(0);

    // Toggle a control bit: "process posted interrupts" without virtual-interrupt delivery is an invalid control.
    const posted = page.locator("#bit-PIN_BASED_VM_EXEC_CONTROL-7");
    await posted.check();
    await expect.poll(() => outcome().getAttribute("data-outcome")).toBe("vmfail-valid");
    await expect(outcome().textContent()).resolves.toContain("VM-instruction error 7");
    expect(await page.locator("#field-PIN_BASED_VM_EXEC_CONTROL").inputValue()).toBe("0xbf");

    // Export: the downloaded document gives the CLI the same outcome.
    const [download] = await Promise.all([page.waitForEvent("download"), page.click("#download")]);
    const exported = join(ARTIFACTS, "playground-export.json");
    await download.saveAs(exported);
    const doc = JSON.parse(readFileSync(exported, "utf8"));
    expect(doc.format).toBe("nvmx-entry/1");
    expect(doc.vmcs.PIN_BASED_VM_EXEC_CONTROL).toBe("0xbf");
    expect(doc.vmcs.GUEST_CS_AR_BYTES).toBe("0xa09b");
    expect(cliCheck(exported).outcome).toEqual({ type: "vmfail-valid", error: 7 });

    // Share: the URL fragment restores the state in a fresh page.
    await expect.poll(() => new URL(page.url()).hash.length).toBeGreaterThan(10);
    const shared = await page.context().newPage();
    await shared.goto(page.url());
    await shared.waitForSelector(".page[data-ready]");
    await expect.poll(() => shared.locator("#outcome").getAttribute("data-outcome")).toBe("vmfail-valid");
    expect(await shared.locator("#field-GUEST_CS_AR_BYTES").inputValue()).toBe("0xa09b");
    await shared.close();

    // Untoggle: back to a successful entry.
    await posted.uncheck();
    await expect.poll(() => outcome().getAttribute("data-outcome")).toBe("entered");
  });

  it("works offline once loaded (service worker)", async () => {
    await page.evaluate(async () => {
      await navigator.serviceWorker.ready;
    });
    const context = page.context();
    await context.setOffline(true);
    try {
      const offline = await context.newPage();
      await offline.goto(server.url);
      await offline.waitForSelector(".page[data-ready]");
      await expect.poll(() => offline.locator("#outcome").getAttribute("data-outcome")).toBe("vmexit");
      // the chunks loaded on demand were cached at install too: the nested view and the worker work offline
      await offline.click("#tab-nested");
      await offline.locator(".timeline .stage").first().waitFor();
      await offline.click("#tab-generate");
      await offline.click("#gen-valid");
      await expect.poll(() => offline.locator("#gen-result").getAttribute("data-ok")).toBe("true");
      await offline.close();
    } finally {
      await context.setOffline(false);
    }
  });

  it("shows a failing state clearly (screenshot for people: test-artifacts/playground.png)", async () => {
    await page.selectOption("#example", "bad-cs-ar");
    await page.click("#load-example");
    await page.locator('[data-check-id="guest.cs.l-and-d"]').waitFor();
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: join(ARTIFACTS, "playground.png") });
    // The failing field, reached from the violation list.
    await page
      .locator('[data-check-id="guest.cs.l-and-d"]')
      .getByRole("button", { name: "GUEST_CS_AR_BYTES" })
      .click();
    await page.waitForTimeout(800);
    await page.screenshot({ path: join(ARTIFACTS, "playground-field.png") });
    expect(problems).toEqual([]);
  });
});
