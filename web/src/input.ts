/**
 * Reading what a person pastes or opens, with the library's own parsers (src/formats): an `nvmx-entry/1`
 * JSON document (or the first of NDJSON), a Linux KVM dump_vmcs, a Xen VMCS dump, QEMU's "KVM: entry
 * failed" register dump, or vmxcap output (which sets the CPU profile and keeps the VMCS).
 *
 * A log carries only part of the VMCS: src/formats completes the rest (the repair engine, changing only
 * what the log does not show) and says so; those notes are shown with the load status. Its explanation —
 * definite and possible findings, what the reader could not read — is shown while the state is unedited.
 */
import { serializeEntry } from "../../src/entry/document.js";
import { InputError } from "../../src/errors.js";
import { parseInput } from "../../src/formats/detect.js";
import { describeExplainedOutcome, explainDump, FORMAT_NAMES } from "../../src/formats/explain.js";
import { type EntryDocument, type EntryResult, normalise } from "./model.js";

export interface Loaded {
  doc: EntryDocument;
  /** What the text was, for the status line ("nvmx-entry/1 JSON", "Linux KVM dump_vmcs", ...). */
  format: string;
  /** What a person should know about the conversion (assumptions, fields the log lacks). */
  notes: string[];
  /**
   * For a log: what nvmx can say of it (definite and possible findings; a completed state alone would hide
   * that unknown fields might fail) and what the reader could not read, to show next to the outcome.
   */
  explained?: {
    result: EntryResult;
    warnings: string[];
    outcomeText: string;
    unknown: number;
    /** does nvmx's outcome match what the log says the CPU reported? (null: nothing to compare) */
    agrees: boolean | null;
    /** the verdict in words ("agrees: nvmx also finds ...") */
    agreement: string;
    /** what nvmx assumed to complete the log */
    assumptions: string[];
  };
}

function parseJson(text: string, line?: number): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new InputError(`not valid JSON: ${(e as Error).message}`, line !== undefined ? { line } : {});
  }
}

/**
 * Read pasted or uploaded text. `current` is the state shown now (vmxcap output changes only its CPU).
 * Throws InputError, with the file name, when the text is in no supported format.
 */
export function readInput(text: string, file = "<pasted text>", current?: EntryDocument): Loaded {
  try {
    const input = parseInput(new TextEncoder().encode(text), file);
    switch (input.format) {
      case "nvmx-json": {
        const [first] = input.documents;
        if (!first) throw new InputError("empty input");
        const notes =
          input.documents.length > 1
            ? [`NDJSON with ${input.documents.length} documents: showing the first`]
            : [];
        return { doc: normalise(parseJson(first.text, first.line)), format: "nvmx-entry/1 JSON", notes };
      }
      case "vmxcap": {
        const doc: EntryDocument = {
          ...(current ?? { format: "nvmx-entry/1", vmcs: {} }),
          cpu: input.profile,
        };
        return {
          doc: normalise(doc),
          format: "vmxcap output",
          notes: ["the VMCS is unchanged; it is now checked against the CPU this vmxcap output describes"],
        };
      }
      case "logs": {
        const [dump] = input.dumps;
        if (!dump) throw new InputError("no VM-entry dump found");
        const x = explainDump(dump);
        const notes = [
          `dump at line ${dump.line} (${dump.layout})${input.dumps.length > 1 ? `, the first of ${input.dumps.length} dumps` : ""}`,
          ...(x.cpuAssumed
            ? [
                "the log names no CPU: checked on the permissive profile (every control allowed); pick a CPU above",
              ]
            : []),
          ...(x.unknownFields.length
            ? [
                `${x.unknownFields.length} field${x.unknownFields.length === 1 ? "" : "s"} VM entry reads ${x.unknownFields.length === 1 ? "is" : "are"} not in the log (nvmx chose values for the state shown; findings that depend on them are only possible): ${x.unknownFields.join(", ")}`,
              ]
            : []),
        ];
        return {
          doc: serializeEntry(x.entry),
          format: FORMAT_NAMES[dump.format],
          notes,
          explained: {
            result: x.result,
            warnings: dump.warnings,
            outcomeText: describeExplainedOutcome(x),
            unknown: x.unknownFields.length,
            agrees: x.agrees,
            agreement: x.agreement,
            assumptions: x.assumptions,
          },
        };
      }
      case "kvm-tracepoint":
        throw new InputError(
          "a kvm_nested_vmenter_failed trace names the check KVM failed but holds no VMCS; `nvmx explain` maps it to rules",
        );
    }
  } catch (e) {
    if (e instanceof InputError) throw e.withFile(file);
    throw e;
  }
}
