/**
 * `nvmx serve [--port P] [--host H]`: serves the built playground (web/dist) and nothing else. The page
 * checks VMCS states in the browser; the server only hands out the page's own files: GET/HEAD, no
 * directory listing, no path outside web/dist, no endpoint that reads or writes anything else.
 * Listens on 127.0.0.1 unless --host names another interface.
 */
import { constants, existsSync, realpathSync } from "node:fs";
import { open, realpath } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { extname, join, normalize, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { type Command, Option } from "commander";
import { InputError } from "../errors.js";
import { type Cli, defineCommand, intValue, usage } from "./command.js";

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".txt": "text/plain; charset=utf-8",
  ".webmanifest": "application/manifest+json",
  ".woff2": "font/woff2",
};

/** Where `npm run build` puts the page: web/dist beside dist/ in the package. */
export function defaultWebRoot(): string {
  return fileURLToPath(new URL("../../web/dist/", import.meta.url));
}

const SECURITY_HEADERS = {
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "Cross-Origin-Opener-Policy": "same-origin",
  "Content-Security-Policy":
    "default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
} as const;

function reply(res: ServerResponse, status: number, text: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, {
    "Content-Type": "text/plain; charset=utf-8",
    "Content-Length": Buffer.byteLength(text),
    ...SECURITY_HEADERS,
    ...extra,
  });
  res.end(text);
}

/**
 * The file under `root` a request path names, or undefined when it names none (outside the root, hidden,
 * malformed). "/" is the page itself.
 */
export function resolveAsset(root: string, urlPath: string): string | undefined {
  let path: string;
  try {
    path = decodeURIComponent(urlPath);
  } catch {
    return undefined;
  }
  if (path.includes("\0") || path.includes("\\")) return undefined;
  if (path === "/" || path === "") path = "/index.html";
  const rel = normalize(path).replace(/^([/\\])+/, "");
  // No dot-files and no parent references survive normalisation inside the root.
  if (rel.split(/[/\\]/).some((part) => part === ".." || part.startsWith("."))) return undefined;
  const file = join(root, rel);
  const base = root.endsWith(sep) ? root : root + sep;
  return file.startsWith(base) ? file : undefined;
}

/**
 * The bytes of a regular file that is inside `root` itself, or undefined: a symbolic link anywhere below the
 * root (whether it points inside or outside), a directory or a device is not served. `root` has no links
 * in its own path (startServer resolves it). The last component is opened without following a link
 * (O_NOFOLLOW) and checked on the open file, so it cannot be swapped for a link after the check.
 */
async function readAsset(file: string): Promise<Buffer | undefined> {
  if ((await realpath(file).catch(() => undefined)) !== file) return undefined;
  const fh = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW).catch(() => undefined);
  if (!fh) return undefined;
  try {
    return (await fh.stat()).isFile() ? await fh.readFile() : undefined;
  } finally {
    await fh.close();
  }
}

async function handle(root: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== "GET" && req.method !== "HEAD") {
    reply(res, 405, "method not allowed\n", { Allow: "GET, HEAD" });
    return;
  }
  const url = new URL(req.url ?? "/", "http://localhost");
  const file = resolveAsset(root, url.pathname);
  const type = file && CONTENT_TYPES[extname(file).toLowerCase()];
  const body = file && type ? await readAsset(file) : undefined;
  if (!file || !type || !body) {
    reply(res, 404, "not found\n");
    return;
  }
  res.writeHead(200, {
    "Content-Type": type,
    "Content-Length": body.length,
    // Built assets carry a content hash in their names; the page itself is always revalidated.
    "Cache-Control": file.includes(`${sep}assets${sep}`) ? "public, max-age=31536000, immutable" : "no-cache",
    ...SECURITY_HEADERS,
  });
  res.end(req.method === "HEAD" ? undefined : body);
}

export interface ServeOptions {
  port: number;
  host: string;
  root: string;
}

/** Why the server cannot listen, for people (errors of the address asked for, not of nvmx). */
const LISTEN_ERRORS: Readonly<Record<string, string>> = {
  EADDRINUSE: "the port is in use",
  EACCES: "permission denied (ports below 1024 need privileges)",
  EADDRNOTAVAIL: "no interface of this machine has that address",
  ENOTFOUND: "no such host",
  EAI_AGAIN: "the host name cannot be resolved now",
};

/** Start the server; resolves once it listens, with the URL of the page. */
export function startServer(opts: ServeOptions): Promise<{ server: Server; url: string }> {
  if (!existsSync(join(opts.root, "index.html")))
    throw new InputError(
      `the playground is not built (no ${join(opts.root, "index.html")}): run npm run build`,
      {
        file: "nvmx serve",
      },
    );
  const root = realpathSync(opts.root);
  const server = createServer((req, res) => {
    handle(root, req, res).catch(() => {
      if (!res.headersSent) reply(res, 500, "internal error\n");
      else res.destroy();
    });
  });
  return new Promise((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) => {
      const why = e.code !== undefined ? LISTEN_ERRORS[e.code] : undefined;
      const where = opts.host.includes(":") ? `[${opts.host}]:${opts.port}` : `${opts.host}:${opts.port}`;
      reject(why ? new InputError(`cannot listen on ${where}: ${why}`, { file: "nvmx serve" }) : e);
    });
    server.listen(opts.port, opts.host, () => {
      const addr = server.address();
      const port = typeof addr === "object" && addr ? addr.port : opts.port;
      const host = opts.host.includes(":") ? `[${opts.host}]` : opts.host;
      resolve({ server, url: `http://${host}:${port}/` });
    });
  });
}

export function register(program: Command, cli: Cli): void {
  defineCommand(program, "serve", {
    summary: "serve the playground page (default http://127.0.0.1:8080/)",
    description: `Serve the playground (docs/playground.md): a page that checks VMCS states in the browser — paste a
document or a log, edit fields, toggle control bits. The server hands out the page's own files and
nothing else; it listens on 127.0.0.1 unless --host names another interface. Stop it with Ctrl-C.`,
  })
    .addOption(new Option("--port <P>", "the TCP port, 0..65535 (0: any free port)").default("8080"))
    .addOption(
      new Option("--host <H>", "the address to listen on (e.g. ::1, or 0.0.0.0 for every interface)").default(
        "127.0.0.1",
      ),
    )
    .action(async (o: { port: string; host: string }) => {
      cli.status = await serve(o, cli);
    });
}

async function serve(o: { port: string; host: string }, cli: Cli): Promise<number> {
  const port = intValue("serve", "--port", o.port, 0, 65535);
  const host = o.host;
  // An empty host would make node listen on every interface.
  if (!host.trim())
    throw usage("serve", "--host must name an address or host (e.g. 127.0.0.1 or ::1), got an empty one");
  const { server, url } = await startServer({ port, host, root: defaultWebRoot() });
  await cli.out.line(`nvmx playground: ${url}`);
  await cli.out.flush();
  if (host !== "127.0.0.1" && host !== "localhost" && host !== "::1")
    process.stderr.write(`nvmx serve: listening on ${host}: the page is reachable from other machines\n`);
  return new Promise((resolve) => {
    const stop = () => {
      server.close(() => resolve(0));
      server.closeAllConnections();
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
}
