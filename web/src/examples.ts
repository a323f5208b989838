/**
 * Bundled examples, built into the page (no request at run time): the repository's examples/*.json and a
 * real KVM dump_vmcs from the test corpus (a Proxmox report, test/corpus/README.md).
 */
import kvmDump from "../../test/corpus/kvm-dump/kvm-list-2022-proxmox-smm-sti-shadow-if0.txt?raw";

const files = import.meta.glob<string>("../../examples/*.json", {
  eager: true,
  query: "?raw",
  import: "default",
});

export interface Example {
  id: string;
  title: string;
  /** Where it comes from in the repository. */
  file: string;
  text: string;
}

/** Titles for the known examples; an example without one is listed by its file name. */
const TITLES: Readonly<Record<string, string>> = {
  "valid-64bit-linux": "Valid 64-bit Linux guest (VM entry succeeds)",
  "bad-cs-ar": "64-bit guest with CS.L and CS.D/B both set (invalid guest state)",
  "vmlaunch-launched": "VMLAUNCH of a launched VMCS (VM-instruction error 4)",
  "kvm-dump-proxmox": "Real KVM dump_vmcs: SMM entry in an STI shadow (Proxmox, 2022)",
  "vmcs12-bad-host-tr": "Nested: vmcs12 with a bad host-state field (HOST_TR_SELECTOR = 0)",
};

const ORDER = [
  "bad-cs-ar",
  "valid-64bit-linux",
  "vmlaunch-launched",
  "kvm-dump-proxmox",
  "vmcs12-bad-host-tr",
];

/**
 * The valid 64-bit guest with HOST_TR_SELECTOR 0 (SDM 28.2.3: TR's selector must not be 0): as vmcs12, an
 * error the dry run cannot see, because vmcs02's host state is L0's own.
 */
function badHostTr(valid: string): string {
  const doc = JSON.parse(valid) as { vmcs: Record<string, string>; comment?: string };
  delete doc.vmcs.HOST_TR_SELECTOR;
  doc.comment =
    "examples/valid-64bit-linux.json with HOST_TR_SELECTOR 0: VMfail 8 (host.tr-selector.nonzero)";
  return `${JSON.stringify(doc, null, 2)}\n`;
}

export const EXAMPLES: readonly Example[] = [
  ...Object.entries(files).map(([path, text]) => ({
    id: path.replace(/^.*\//, "").replace(/\.json$/, ""),
    file: path.replace(/^(\.\.\/)+/, ""),
    text,
  })),
  {
    id: "vmcs12-bad-host-tr",
    file: "examples/valid-64bit-linux.json, HOST_TR_SELECTOR 0",
    text: badHostTr(files["../../examples/valid-64bit-linux.json"]!),
  },
  {
    id: "kvm-dump-proxmox",
    file: "test/corpus/kvm-dump/kvm-list-2022-proxmox-smm-sti-shadow-if0.txt",
    text: kvmDump,
  },
]
  .map((x) => ({ ...x, title: TITLES[x.id] ?? x.id }))
  .sort(
    (a, b) => (ORDER.indexOf(a.id) + 1 || 99) - (ORDER.indexOf(b.id) + 1 || 99) || a.id.localeCompare(b.id),
  );

export const DEFAULT_EXAMPLE = "bad-cs-ar";
