/**
 * Sharing by URL: the state lives in the fragment (`#...`), which browsers never send to a server, so a
 * shared link carries the VMCS without anything leaving the machine.
 *
 * Fragment: `z1.` + base64url(deflate-raw(JSON of the nvmx-entry/1 document)) where the browser has
 * CompressionStream, else `j1.` + base64url(JSON). The document holds nonzero fields only.
 */
import type { EntryDocument } from "./model.js";

function toBase64Url(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromBase64Url(text: string): Uint8Array {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const s = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

async function pipe(bytes: Uint8Array, stream: GenericTransformStream): Promise<Uint8Array> {
  const out = new Blob([bytes as BlobPart]).stream().pipeThrough(stream);
  return new Uint8Array(await new Response(out).arrayBuffer());
}

export async function encodeFragment(doc: EntryDocument): Promise<string> {
  const json = new TextEncoder().encode(JSON.stringify(doc));
  if (typeof CompressionStream === "function")
    return `z1.${toBase64Url(await pipe(json, new CompressionStream("deflate-raw")))}`;
  return `j1.${toBase64Url(json)}`;
}

/** The JSON value a fragment carries (to be validated like any input), or undefined for an empty fragment. */
export async function decodeFragment(fragment: string): Promise<unknown> {
  const f = fragment.replace(/^#/, "");
  if (f === "") return undefined;
  const dot = f.indexOf(".");
  const kind = f.slice(0, dot);
  const bytes = fromBase64Url(f.slice(dot + 1));
  let json: Uint8Array;
  if (kind === "z1") json = await pipe(bytes, new DecompressionStream("deflate-raw"));
  else if (kind === "j1") json = bytes;
  else throw new Error(`unknown link format "${kind}"`);
  return JSON.parse(new TextDecoder().decode(json));
}
