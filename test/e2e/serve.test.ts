/** `nvmx serve`: only the page's own files, by GET/HEAD, with their content types; nothing else. */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import type { Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveAsset, startServer } from "../../src/cli/serve.js";

describe("nvmx serve", () => {
  const parent = mkdtempSync(join(tmpdir(), "nvmx-serve-"));
  const root = join(parent, "dist");
  let server: Server;
  let url: string;

  beforeAll(async () => {
    mkdirSync(join(root, "assets"), { recursive: true });
    writeFileSync(join(root, "index.html"), "<!doctype html><title>page</title>");
    writeFileSync(join(root, "assets", "app-1234.js"), "console.log(1);");
    writeFileSync(join(root, "assets", "app-1234.css"), "body{}");
    writeFileSync(join(root, ".hidden.js"), "secret");
    writeFileSync(join(parent, "outside.js"), "secret");
    ({ server, url } = await startServer({ port: 0, host: "127.0.0.1", root }));
  });
  afterAll(() => {
    server?.close();
    server?.closeAllConnections();
  });

  it("listens on 127.0.0.1 by default and prints its URL (the CLI, without --host)", async () => {
    const cli = new URL("../../dist/cli/main.js", import.meta.url).pathname;
    const proc = spawn(process.execPath, [cli, "serve", "--port", "0"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    try {
      const printed = await new Promise<string>((resolve, reject) => {
        let out = "";
        proc.stdout.on("data", (d: Buffer) => {
          out += d.toString();
          const m = /http:\/\/\S+/.exec(out);
          if (m) resolve(m[0]);
        });
        proc.on("exit", (code) => reject(new Error(`nvmx serve exited with ${code}`)));
      });
      expect(printed).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      // and it answers there
      expect((await fetch(printed, { method: "HEAD" })).status).toBe(200);
    } finally {
      proc.kill();
    }
  });
  it("startServer prints the URL of the interface it was given", () => {
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
  });

  it("serves the page and its assets with their content types", async () => {
    const page = await fetch(url);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(await page.text()).toContain("<title>page</title>");
    const js = await fetch(`${url}assets/app-1234.js`);
    expect(js.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(js.headers.get("x-content-type-options")).toBe("nosniff");
    const css = await fetch(`${url}assets/app-1234.css?v=1`);
    expect(css.headers.get("content-type")).toBe("text/css; charset=utf-8");
    expect((await fetch(url, { method: "HEAD" })).status).toBe(200);
  });

  it("refuses other methods, directories, hidden files and paths outside the page", async () => {
    expect((await fetch(url, { method: "POST", body: "x" })).status).toBe(405);
    expect((await fetch(`${url}assets/`)).status).toBe(404);
    expect((await fetch(`${url}assets`)).status).toBe(404);
    expect((await fetch(`${url}.hidden.js`)).status).toBe(404);
    expect((await fetch(`${url}%2e%2e/outside.js`)).status).toBe(404);
    expect((await fetch(`${url}assets/%2e%2e%2f%2e%2e%2foutside.js`)).status).toBe(404);
    expect((await fetch(`${url}..%5coutside.js`)).status).toBe(404);
    expect((await fetch(`${url}%E0%A4%A`)).status).toBe(404);
  });

  it("resolves request paths inside the root only", () => {
    expect(resolveAsset(root, "/")).toBe(join(root, "index.html"));
    expect(resolveAsset(root, "/assets/app-1234.js")).toBe(join(root, "assets", "app-1234.js"));
    expect(resolveAsset(root, "/../outside.js")).toBe(join(root, "outside.js"));
    expect(resolveAsset(root, "/%2e%2e/outside.js")).toBe(join(root, "outside.js"));
    expect(resolveAsset(root, "/a/../../../etc/passwd")).toBe(join(root, "etc", "passwd"));
    expect(resolveAsset(root, "/x%00.js")).toBeUndefined();
    expect(resolveAsset(root, "/.git/config")).toBeUndefined();
  });
});
