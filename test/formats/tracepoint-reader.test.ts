/** The streaming tracepoint reader gives what the whole-text reader gives, however the text is cut. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseKvmTracepoint, TracepointReader } from "../../src/formats/kvm-tracepoint.js";

const EVENT = " qemu-kvm-1234 [002] .... 17.5: kvm_nested_vmenter_failed: ";
const lines = fc.constantFrom(
  `${EVENT}nested_cpu_has_vpid(vmcs12) && !vmcs12->virtual_processor_id`,
  `${EVENT}early hardware check VM-instruction error: VMENTRY_INVALID_CONTROL_FIELD`,
  `${EVENT}vmcs12->host_tr_selector == 0`,
  " qemu-kvm-1234 [002] .... 17.4: kvm_exit: reason VMLAUNCH",
  "",
  "# tracer: nop",
);

describe("TracepointReader", () => {
  it("any cutting of text with \\n, \\r\\n and lone \\r gives the lines and line numbers of the whole (property)", () => {
    fc.assert(
      fc.property(
        fc.array(lines, { maxLength: 10 }),
        fc.constantFrom("\n", "\r\n", "\r"),
        fc.array(fc.integer({ min: 1, max: 40 }), { maxLength: 20 }),
        (ls, eol, cuts) => {
          const text = ls.join(eol);
          const r = new TracepointReader();
          let at = 0;
          for (const c of cuts) {
            r.push(text.slice(at, at + c));
            at += c;
          }
          r.push(text.slice(at));
          const got = r.end();
          expect(got).toEqual(parseKvmTracepoint(text));
          // and the line numbers are the event lines' own
          expect(got.map((t) => t.line)).toEqual(
            ls.flatMap((l, i) => (l.includes("kvm_nested_vmenter_failed:") ? [i + 1] : [])),
          );
        },
      ),
      { numRuns: 2000, seed: 0x7ace },
    );
  });
});
