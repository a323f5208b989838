/** The streaming tracepoint reader gives what the whole-text reader gives, however the text is cut. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  describeTracepointLine,
  looksLikeKvmTracepoint,
  parseKvmTracepoint,
  TracepointReader,
} from "../../src/formats/kvm-tracepoint.js";
import { MAX_LINE } from "../../src/formats/text.js";

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

/** The description of the only line of a one-line trace. */
function describe1(message: string): string[] {
  const [t, ...rest] = parseKvmTracepoint(`${EVENT}${message}`);
  expect(rest).toEqual([]);
  if (!t) throw new Error("no tracepoint line");
  return describeTracepointLine(t);
}

describe("parseKvmTracepoint", () => {
  it("keeps only event lines, with their numbers, the ftrace prefix as context and the message's spaces collapsed", () => {
    const got = parseKvmTracepoint(
      [
        "# tracer: nop",
        " qemu-kvm-1234 [002] .... 17.4: kvm_exit: reason VMLAUNCH",
        " qemu-kvm-1234 [002] .... 17.5: kvm_nested_vmenter_failed:   vmcs12->hdr.shadow_vmcs  ",
        "kvm_nested_vmenter_failed: an unknown   condition",
      ].join("\n"),
    );
    expect(got.map(({ line, message, context }) => ({ line, message, context }))).toEqual([
      { line: 3, message: "vmcs12->hdr.shadow_vmcs", context: "qemu-kvm-1234 [002] .... 17.5" },
      { line: 4, message: "an unknown condition", context: undefined },
    ]);
    expect(got[1]?.matches).toEqual([]);
    expect("context" in (got[1] ?? {})).toBe(false);
  });

  it("reads a VMfail the processor reported, early (the dry run) or late, with or without an error name", () => {
    const got = parseKvmTracepoint(
      [
        `${EVENT}early hardware check VM-instruction error: VMENTRY_INVALID_CONTROL_FIELD`,
        `${EVENT}hardware VM-instruction error: 7`,
        `${EVENT}hardware VM-instruction error:`,
      ].join("\r\n"),
    );
    expect(got.map((t) => [t.line, t.hardware, t.matches.length])).toEqual([
      [1, { when: "early", error: "VMENTRY_INVALID_CONTROL_FIELD" }, 0],
      [2, { when: "late", error: "7" }, 0],
      [3, { when: "late", error: "" }, 0],
    ]);
  });

  it("cuts an unfinished line at the readers' line limit, as the log readers do", () => {
    const r = new TracepointReader();
    r.push(`${EVENT}vmcs12->hdr.shadow_vmcs`);
    r.push("x".repeat(MAX_LINE));
    r.push("y".repeat(10));
    const [t] = r.end();
    // the line (event prefix included) is MAX_LINE characters; the message is what follows the prefix's last space
    expect(t?.message.length).toBe(MAX_LINE - EVENT.length);
    expect(t?.message.endsWith("x")).toBe(true);
    expect(t?.matches).toEqual([]);
  });

  it("a \\r ending one piece and the \\n starting the next end one line, not two", () => {
    const r = new TracepointReader();
    r.push("first\r");
    r.push(`\n${EVENT}vmcs12->hdr.shadow_vmcs\r`);
    r.push("\rthird");
    expect(r.end().map((t) => t.line)).toEqual([2]);
  });
});

describe("line ends", () => {
  const messages = (pieces: string[]) => {
    const r = new TracepointReader();
    for (const p of pieces) r.push(p);
    return r.end().map((t) => [t.line, t.message]);
  };
  it("\r and \n mixed in one text each end a line; a text may start with \r", () => {
    expect(messages([`\r${EVENT}a\r${EVENT}b\n${EVENT}c\r\n${EVENT}d`])).toEqual([
      [2, "a"],
      [3, "b"],
      [4, "c"],
      [5, "d"],
    ]);
  });
  it("a \r inside a piece, then a piece starting with \n: that \n ends the next line", () => {
    expect(messages([`x\r${EVENT}b`, `\n${EVENT}c`])).toEqual([
      [2, "b"],
      [3, "c"],
    ]);
  });
  it("a piece ending with \r, then one not starting with \n: nothing of it is skipped", () => {
    expect(messages([`${EVENT}a\r`, "kvm_nested_vmenter_failed: b"])).toEqual([
      [1, "a"],
      [2, "b"],
    ]);
  });
});

describe("context and hardware lines", () => {
  it("the context is the text before the event, without its final colon (perf script's 'kvm:' kept)", () => {
    const [a, b] = parseKvmTracepoint(
      "qemu-kvm 1234 [002] 17.500: kvm:kvm_nested_vmenter_failed: x\nCPU 3 :kvm_nested_vmenter_failed: y",
    );
    expect(a?.context).toBe("qemu-kvm 1234 [002] 17.500: kvm");
    expect(b?.context).toBe("CPU 3");
  });
  it("a hardware VMfail is read only at the start of the message", () => {
    const [t] = parseKvmTracepoint(`${EVENT}not a hardware VM-instruction error: 7`);
    expect(t?.hardware).toBeUndefined();
  });
});

describe("looksLikeKvmTracepoint", () => {
  it("is true for text holding the event anywhere, false otherwise", () => {
    expect(looksLikeKvmTracepoint(`# tracer: nop\n${EVENT}x`)).toBe(true);
    expect(looksLikeKvmTracepoint("kvm_nested_vmenter_failed")).toBe(false);
    expect(looksLikeKvmTracepoint(" qemu-kvm-1234 [002] .... 17.4: kvm_exit: reason VMLAUNCH")).toBe(false);
  });
});

describe("describeTracepointLine", () => {
  it("a controls check: VMfail(7), the releases that have it with their lines, and its rules", () => {
    expect(describe1("nested_cpu_has_vpid(vmcs12) && !vmcs12->virtual_processor_id")).toMatchInlineSnapshot(`
      [
        "line 1: nested_cpu_has_vpid(vmcs12) && !vmcs12->virtual_processor_id",
        "  nested_check_vm_execution_controls → VMfail(7) (v6.19 nested.c:2936, v6.18 nested.c:2941, v6.6 nested.c:2765)",
        "    rules: ctl.exec.vpid-nonzero",
      ]
    `);
  });
  it("a host-state check: VMfail(8)", () => {
    expect(
      describe1("vmcs12->host_tr_selector & (SEGMENT_RPL_MASK | SEGMENT_TI_MASK)"),
    ).toMatchInlineSnapshot(`
      [
        "line 1: vmcs12->host_tr_selector & (SEGMENT_RPL_MASK | SEGMENT_TI_MASK)",
        "  nested_vmx_check_host_state → VMfail(8) (v6.19 nested.c:3186, v6.18 nested.c:3155, v6.6 nested.c:2947)",
        "    rules: host.tr-selector.rpl-ti",
      ]
    `);
  });
  it("a guest-state check: exit 33", () => {
    expect(describe1("!nested_guest_cr0_valid(vcpu, vmcs12->guest_cr0)")).toMatchInlineSnapshot(`
      [
        "line 1: !nested_guest_cr0_valid(vcpu, vmcs12->guest_cr0)",
        "  nested_vmx_check_guest_state → exit 33 (v6.19 nested.c:3288, v6.18 nested.c:3257, v6.6 nested.c:3028)",
        "    rules: guest.cr0.required-bits-set, guest.cr0.unsupported-bits-clear",
      ]
    `);
  });
  it("an MSR-load check: exit 34", () => {
    expect(describe1("e->reserved != 0")).toMatchInlineSnapshot(`
      [
        "line 1: e->reserved != 0",
        "  nested_vmx_msr_check_common → exit 34 (v6.19 nested.c:965, v6.18 nested.c:961, v6.6 nested.c:864)",
        "    rules: msr-load.reserved-bits",
      ]
    `);
  });
  it("an instruction-level check", () => {
    expect(describe1("vmcs12->hdr.shadow_vmcs")).toMatchInlineSnapshot(`
      [
        "line 1: vmcs12->hdr.shadow_vmcs",
        "  nested_vmx_run → an instruction-level failure (v6.19 nested.c:3781, v6.18 nested.c:3832, v6.6 nested.c:3584)",
        "    rules: basic.current-vmcs-not-shadow",
      ]
    `);
  });
  it("a late controls check with no SDM rule (v6.19)", () => {
    expect(describe1("!vapic")).toMatchInlineSnapshot(`
      [
        "line 1: !vapic",
        "  nested_vmx_check_controls_late → VMfail(7) (v6.19 nested.c:3105)",
        "    rules: none in the SDM (a KVM-only condition)",
      ]
    `);
  });
  it("a text two different checks print: one line per check", () => {
    expect(describe1("!IS_ALIGNED(ssp, 4)")).toMatchInlineSnapshot(`
      [
        "line 1: !IS_ALIGNED(ssp, 4)",
        "  nested_vmx_check_cet_state_common → VMfail(8) (v6.19 nested.c:3137, v6.18 nested.c:3106)",
        "    rules: host.ssp.alignment",
        "  nested_vmx_check_cet_state_common → exit 33 (v6.19 nested.c:3137, v6.18 nested.c:3106)",
        "    rules: guest.ssp.aligned",
      ]
    `);
  });
  it("early and late hardware VMfails, and a text no preset has", () => {
    expect(
      describe1("early hardware check VM-instruction error: VMENTRY_INVALID_CONTROL_FIELD"),
    ).toMatchInlineSnapshot(`
      [
        "line 1: early hardware check VM-instruction error: VMENTRY_INVALID_CONTROL_FIELD",
        "  the dry run (nested_early_check=Y) VMfailed with VMENTRY_INVALID_CONTROL_FIELD: L1 sees VMfail(7); the controls of vmcs02 (merged from vmcs12) are invalid for this CPU",
      ]
    `);
    expect(
      describe1("hardware VM-instruction error: VMENTRY_INVALID_HOST_STATE_FIELD"),
    ).toMatchInlineSnapshot(`
      [
        "line 1: hardware VM-instruction error: VMENTRY_INVALID_HOST_STATE_FIELD",
        "  the real VM entry of vmcs02 VMfailed with VMENTRY_INVALID_HOST_STATE_FIELD: KVM missed a consistency check, unwinds, and L1 sees VMfail(7)",
      ]
    `);
    expect(describe1("vmcs12->no_such_field")).toMatchInlineSnapshot(`
      [
        "line 1: vmcs12->no_such_field",
        "  no kernel preset has a check with this text (another release, or a line cut short)",
      ]
    `);
  });
});
