/**
 * The layout `explain` names for every real and synthetic log (dump-grammar finish(): which kernel or Xen
 * release printed it, with its optional parts), pinned.
 */
import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseInput } from "../../src/formats/detect.js";

const dirs = [new URL("../corpus/", import.meta.url), new URL("./samples/", import.meta.url)];

function files(): [string, URL][] {
  const out: [string, URL][] = [];
  for (const dir of dirs)
    for (const e of readdirSync(dir, { withFileTypes: true, recursive: true }))
      if (e.isFile() && e.name.endsWith(".txt")) {
        const sub = e.parentPath.slice(new URL(dir).pathname.length);
        out.push([`${sub ? `${sub}/` : ""}${e.name}`, new URL(`${sub ? `${sub}/` : ""}${e.name}`, dir)]);
      }
  return out.sort(([a], [b]) => (a < b ? -1 : 1));
}

describe("dump layouts", () => {
  it("every dump of every log: its format and layout", () => {
    const table: string[] = [];
    for (const [name, url] of files()) {
      let parsed: ReturnType<typeof parseInput>;
      try {
        parsed = parseInput(readFileSync(url), name);
      } catch {
        continue;
      }
      if (parsed.format === "logs")
        for (const d of parsed.dumps) table.push(`${name}:${d.line}: ${d.format}, ${d.layout}`);
    }
    expect(table.length).toBeGreaterThan(30);
    expect(table).toMatchSnapshot();
  });
});
