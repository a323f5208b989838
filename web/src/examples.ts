/**
 * Bundled examples: the repository's examples/*.json, built into the page (no request at run time).
 */
const files = import.meta.glob<string>("../../examples/*.json", {
  eager: true,
  query: "?raw",
  import: "default",
});

export interface Example {
  id: string;
  title: string;
  text: string;
}

/** Titles for the known examples; an example without one is listed by its file name. */
const TITLES: Readonly<Record<string, string>> = {
  "valid-64bit-linux": "Valid 64-bit Linux guest (VM entry succeeds)",
  "bad-cs-ar": "64-bit guest with CS.L and CS.D/B both set (invalid guest state)",
  "vmlaunch-launched": "VMLAUNCH of a launched VMCS (VM-instruction error 4)",
};

const ORDER = ["bad-cs-ar", "valid-64bit-linux", "vmlaunch-launched"];

export const EXAMPLES: readonly Example[] = Object.entries(files)
  .map(([path, text]) => {
    const id = path.replace(/^.*\//, "").replace(/\.json$/, "");
    return { id, title: TITLES[id] ?? id, text };
  })
  .sort((a, b) => (ORDER.indexOf(a.id) + 1 || 99) - (ORDER.indexOf(b.id) + 1 || 99) || a.id.localeCompare(b.id));

export const DEFAULT_EXAMPLE = "bad-cs-ar";
