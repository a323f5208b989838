/** `nvmx serve`: only the page's own files, by GET/HEAD, with their content types; nothing else. */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import type { Server } from "node:http";
import { createServer as createNetServer } from "node:net";
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

  it("serves no symbolic link, wherever it points, and no file reached through one (issue 17)", async () => {
    const links = mkdtempSync(join(tmpdir(), "nvmx-serve-links-"));
    const real = join(links, "dist");
    mkdirSync(join(real, "assets"), { recursive: true });
    writeFileSync(join(real, "index.html"), "<title>linked</title>");
    writeFileSync(join(real, "assets", "app.js"), "ok");
    writeFileSync(join(links, "secret.js"), "secret");
    mkdirSync(join(links, "outside"));
    writeFileSync(join(links, "outside", "x.js"), "secret");
    symlinkSync(join(links, "secret.js"), join(real, "out.js")); // to a file outside
    symlinkSync(join(real, "assets", "app.js"), join(real, "in.js")); // to a file inside
    symlinkSync("assets/app.js", join(real, "rel.js")); // relative, inside
    symlinkSync(join(links, "outside"), join(real, "outdir")); // to a directory outside
    symlinkSync(join(real, "assets"), join(real, "indir")); // to a directory inside
    symlinkSync(join(links, "nowhere.js"), join(real, "dangling.js"));
    // The root itself may be reached through a link: its files are served.
    symlinkSync(real, join(links, "root-link"));
    const started = await startServer({ port: 0, host: "127.0.0.1", root: join(links, "root-link") });
    try {
      const get = async (path: string) => {
        const r = await fetch(`${started.url}${path}`);
        return `${r.status} ${await r.text()}`;
      };
      expect(await get("assets/app.js")).toBe("200 ok");
      expect(await get("")).toBe("200 <title>linked</title>");
      for (const path of ["out.js", "in.js", "rel.js", "outdir/x.js", "indir/app.js", "dangling.js"])
        expect(await get(path), path).toBe("404 not found\n");
    } finally {
      started.server.close();
      started.server.closeAllConnections();
    }
  });

  it("--host ::1 listens on the IPv6 loopback", async (ctx) => {
    const probe = createNetServer();
    const has = await new Promise<boolean>((resolve) => {
      probe.once("error", () => resolve(false));
      probe.listen(0, "::1", () => probe.close(() => resolve(true)));
    });
    if (!has) ctx.skip("this machine has no ::1 (IPv6 loopback)");
    const started = await startServer({ port: 0, host: "::1", root });
    try {
      expect(started.server.address()).toMatchObject({ address: "::1", family: "IPv6" });
      expect(started.url).toMatch(/^http:\/\/\[::1\]:\d+\/$/);
      expect((await fetch(started.url)).status).toBe(200);
    } finally {
      started.server.close();
      started.server.closeAllConnections();
    }
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
