/**
 * The fast paths against the plain path over varied generated corpora (issue 15), fixed seeds: valid states of
 * every mode the profile has, with and without VM-entry MSR-load lists, and those states mutated the way a
 * fuzzing campaign or `gen --violate-each` mutates them (field writes and bit flips, MSR-load entries and the
 * other memory words VM entry reads, processor state). Checked on each state: the compiled runner and a runner
 * that specializes on the first sighting, and a profile's own runner against the reference loop over the
 * registry (MSR-load lists read in one walk, areas unaligned or across memory chunks), and the batch path of
 * `check --json` (EntryScanner's reused store and memory, EntryRunner's reused context) against
 * parseEntryText + runEntry, results and messages included.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { F, FIELDS } from "../src/arch/fields.js";
import { CHECKS } from "../src/checks/registry.js";
import { Ctx } from "../src/checks/types.js";
import { builtinProfile } from "../src/cpu/builtin.js";
import { type Entry, parseEntryText } from "../src/entry/document.js";
import { failingChecks, failingChecksReference } from "../src/entry/evaluate.js";
import { compileRunner } from "../src/entry/fast.js";
import { EntryRunner, runEntry } from "../src/entry/run.js";
import { EntryScanner } from "../src/entry/scan.js";
import { Rng } from "../src/gen/rng.js";
import { serializeGenerated } from "../src/gen/serialize.js";
import { generateValid, modesFor } from "../src/gen/valid.js";
import { cloneEntry } from "../src/gen/violate.js";
import { Memory } from "../src/vmcs/memory.js";

const PROFILES = ["skylake", "icelake-server", "sapphirerapids", "wildcatlake"];
const PER_PROFILE = 25;

/** The corpus: PER_PROFILE valid states per profile, modes in turn, seed 15. */
const corpus: Entry[] = PROFILES.flatMap((p) => {
  const caps = builtinProfile(p);
  const modes = modesFor(caps);
  return Array.from(
    { length: PER_PROFILE },
    (_, i) => generateValid(caps, Rng.derive(15, i), { mode: modes[i % modes.length]! }).entry,
  );
});

const writable = FIELDS.filter((f) => f.type !== "read-only");
const U64 = (1n << 64n) - 1n;
/** MSRs the MSR-load rules single out, and a few ordinary ones. */
const MSRS = [
  0xc0000100, 0xc0000101, 0x9b, 0x9e, 0x79, 0x8b, 0x800, 0x8ff, 0xc0000080, 0x1d9, 0x277, 0x38f, 0x570,
  0x14ce, 0x48, 0xc0000082, 0xc0000083, 0xc0000102, 0x175, 0x176, 0x600, 0xc0000081, 0x12345678,
];

type Mutation =
  | { kind: "set"; field: number; value: bigint }
  | { kind: "flip"; field: number; bit: number }
  | { kind: "msr"; entry: number; word: number; value: number }
  | { kind: "count"; value: number }
  | { kind: "listAt"; offset: number }
  | { kind: "mem"; at: "link" | "pdpt" | "vtpr"; value: number }
  | { kind: "processor"; key: "inSmm" | "ia32e" | "blockingByMovSs" | "vmxRoot"; value: boolean };

const field = fc.integer({ min: 0, max: writable.length - 1 }).map((i) => writable[i]!.index);
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("set" as const),
      field,
      value: fc.oneof(
        fc.constantFrom(0n, U64, 1n, 0xffffn, 0xffffffffn, 0x100000000n),
        fc.bigInt({ min: 0n, max: U64 }),
      ),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant("flip" as const), field, bit: fc.integer({ min: 0, max: 63 }) }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("msr" as const),
      entry: fc.integer({ min: 0, max: 7 }),
      word: fc.integer({ min: 0, max: 3 }),
      value: fc.oneof(
        fc.constantFrom(...MSRS),
        fc.constantFrom(0, 1, 0xffffffff, 0x7fff, 0x8000, 0x80000000),
      ),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("count" as const), value: fc.integer({ min: 0, max: 600 }) }),
  },
  {
    // the MSR-load area moved: unaligned, to the end of a 256-byte memory chunk, or past 2^53
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("listAt" as const),
      offset: fc.constantFrom(1, 2, 4, 8, 0xf0, 0xf8, 2 ** 53, -16),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("mem" as const),
      at: fc.constantFrom("link" as const, "pdpt" as const, "vtpr" as const),
      value: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffffffff })),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("processor" as const),
      key: fc.constantFrom(
        "inSmm" as const,
        "ia32e" as const,
        "blockingByMovSs" as const,
        "vmxRoot" as const,
      ),
      value: fc.boolean(),
    }),
  },
);

function apply(e: Entry, m: Mutation): void {
  const v = e.vmcs;
  const addr = (f: number) => Memory.addr(v.lo(f), v.hi(f));
  switch (m.kind) {
    case "set":
      v.set(m.field, m.value & FIELD_MASK.get(m.field)!);
      return;
    case "flip":
      v.set(m.field, (v.get(m.field) ^ (1n << BigInt(m.bit))) & FIELD_MASK.get(m.field)!);
      return;
    case "msr": {
      const a = addr(F.VM_ENTRY_MSR_LOAD_ADDR!) + 16 * m.entry + 4 * m.word;
      if (a < 2 ** 52 - 4) e.memory.write32(a, m.value); // a document's memory ends at 2^52
      return;
    }
    case "count":
      v.set(F.VM_ENTRY_MSR_LOAD_COUNT!, BigInt(m.value));
      return;
    case "listAt":
      v.set(F.VM_ENTRY_MSR_LOAD_ADDR!, BigInt(Math.max(0, addr(F.VM_ENTRY_MSR_LOAD_ADDR!) + m.offset)) & U64);
      return;
    case "mem": {
      const a =
        m.at === "link"
          ? addr(F.VMCS_LINK_POINTER!)
          : m.at === "pdpt"
            ? (v.lo(F.GUEST_CR3!) & ~0x1f) >>> 0
            : addr(F.VIRTUAL_APIC_PAGE_ADDR!) + 0x80;
      if (a % 4 === 0 && a < 2 ** 52) e.memory.write32(a, m.value);
      return;
    }
    case "processor":
      e.processor[m.key] = m.value;
  }
}

/** Values a document can hold for each field (16/32-bit fields keep their width). */
const FIELD_MASK = new Map(
  FIELDS.map((f) => [f.index, f.width === 16 ? 0xffffn : f.width === 32 ? 0xffffffffn : U64]),
);

const ids = (cs: readonly { id: string }[]) => cs.map((c) => c.id);

describe("fast paths agree with the plain path on varied generated corpora (issue 15)", () => {
  it("the corpus is varied: every mode, states with and without MSR-load lists", () => {
    const withList = corpus.filter((e) => e.vmcs.lo(F.VM_ENTRY_MSR_LOAD_COUNT!) > 0).length;
    expect(withList).toBeGreaterThan(10);
    expect(corpus.length - withList).toBeGreaterThan(10);
  });

  it("compiled and specializing runners list what the reference loop lists, and check --json's batch path reads and reports what parseEntryText + runEntry does", () => {
    const special = compileRunner(CHECKS, { specializeAfter: 1 });
    // the profile's own runner from its first state (capabilities as literals), without signatures
    const profiled = compileRunner(CHECKS, { specializeAfter: 0, profileAfter: 1 });
    const out = new Int32Array(CHECKS.length);
    const scanner = new EntryScanner();
    const batch = new EntryRunner();
    let violating = 0;
    let scanned = 0;
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: corpus.length - 1 }),
        fc.array(mutation, { maxLength: 4 }),
        (i, muts) => {
          const e = cloneEntry(corpus[i]!);
          for (const m of muts) apply(e, m);
          const ctx = new Ctx(e.vmcs, e.caps, e.processor, e.memory);
          const want = ids(failingChecksReference(ctx));
          if (want.length) violating++;
          expect(ids(failingChecks(ctx))).toEqual(want);
          const n = special(ctx, out);
          expect(Array.from(out.subarray(0, n), (k) => CHECKS[k]!.id)).toEqual(want);
          const m = profiled(ctx, out);
          expect(Array.from(out.subarray(0, m), (k) => CHECKS[k]!.id)).toEqual(want);
          // the batch path, on the document of this state
          const line = JSON.stringify(serializeGenerated(e));
          const plain = JSON.stringify(runEntry(parseEntryText(line)));
          const b = Buffer.from(line);
          const got = scanner.scan(b, 0, b.length);
          if (got) {
            scanned++;
            expect(JSON.stringify(batch.run(got))).toBe(plain);
          }
        },
      ),
      { seed: 15, numRuns: 600 },
    );
    expect(violating).toBeGreaterThan(120);
    expect(scanned).toBeGreaterThan(400);
  });
});
