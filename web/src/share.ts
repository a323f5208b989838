/**
 * Sharing by URL: the state lives in the fragment (`#...`), which browsers never send to a server, so a
 * shared link carries the VMCS without anything leaving the machine.
 *
 * Fragment: the state, `z1.` + base64url(deflate-raw(JSON of the nvmx-entry/1 document)) where the browser
 * has CompressionStream, else `j1.` + base64url(JSON); then, optionally, `&key=value` pairs for the view
 * (`view=nested&kernel=v6.18&early=Y...`, see app.tsx). A fragment of the state alone is the first
 * version's, so old links still open. The document holds nonzero fields only.
 *
 * Budget: a copied link is at most LINK_BUDGET characters, which mail and chat programs carry whole; a
 * generated state typically takes 1,500–2,500. A state that would need more is not copied as a link (the
 * page offers the JSON download instead); the address bar still carries it.
 */
import type { EntryDocument } from "./model.js";

/** The longest link "Copy link" copies, in characters. */
export const LINK_BUDGET = 8000;

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

/** The fragment (without `#`) for a state and the view's parameters (in the given order). */
export async function encodeFragment(
  doc: EntryDocument,
  params: Readonly<Record<string, string>> = {},
): Promise<string> {
  const json = new TextEncoder().encode(JSON.stringify(doc));
  const state =
    typeof CompressionStream === "function"
      ? `z1.${toBase64Url(await pipe(json, new CompressionStream("deflate-raw")))}`
      : `j1.${toBase64Url(json)}`;
  const extra = new URLSearchParams(params).toString();
  return extra ? `${state}&${extra}` : state;
}

/** What a fragment carries: the JSON value of the state (to be validated like any input) and the view's parameters. */
export interface Fragment {
  /** undefined when the fragment holds no state */
  state: unknown;
  params: Record<string, string>;
}

export async function decodeFragment(fragment: string): Promise<Fragment> {
  const f = fragment.replace(/^#/, "");
  const [head = "", ...rest] = f.split("&");
  const params = Object.fromEntries(new URLSearchParams(rest.join("&")));
  if (head === "") return { state: undefined, params };
  const dot = head.indexOf(".");
  const kind = dot < 0 ? head : head.slice(0, dot);
  if (kind !== "z1" && kind !== "j1") {
    // parameters alone (e.g. "#view=generate"): no state
    if (head.includes("=")) return { state: undefined, params: Object.fromEntries(new URLSearchParams(f)) };
    throw new Error(`unknown link format "${kind}"`);
  }
  const bytes = fromBase64Url(head.slice(dot + 1));
  const json = kind === "z1" ? await pipe(bytes, new DecompressionStream("deflate-raw")) : bytes;
  return { state: JSON.parse(new TextDecoder().decode(json)), params };
}

/** A link to this page carrying a fragment. */
export function linkTo(fragment: string): string {
  return `${location.href.replace(/#.*$/, "")}#${fragment}`;
}
