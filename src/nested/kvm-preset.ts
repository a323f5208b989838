/**
 * The `kvm` preset: which of nvmx's checks Linux KVM performs in software on vmcs12 before entering L2,
 * from the inventory K1–K129 in ../shared/docs/reference/kvm-nested.md §1 (2025 tree, with the CET and FRED
 * series). Expressed by checklist item (sdm-checks.md ids), so it follows the registry as checks are split.
 * Items KVM checks only under a condition carry that condition.
 */
import { ENTRY, PROC2 } from "../arch/controls.js";
import { F } from "../arch/fields.js";
import { CR0 } from "../arch/registers.js";
import { CHECKS } from "../checks/registry.js";
import { withWhen } from "../checks/rule.js";
import type { Check, Ctx } from "../checks/types.js";

type Condition = "always" | "not-unrestricted-guest" | "ia32e-guest" | "no-ept";

/** Checklist item → when KVM checks it (K numbers in comments). */
export const KVM_CHECKLIST: Readonly<Record<string, Condition>> = {
  // VM-execution controls (nested_check_vm_execution_controls)
  E1: "always", // K9
  E2: "always", // K10
  E3: "always", // K11
  E5: "always", // K12
  E6: "always", // K13
  E7: "always", // K13
  E8: "always", // K15
  E9: "always", // K15
  E10: "always", // K16
  E11: "always", // K16
  E12: "always", // K17 (2025)
  E14: "always", // K26
  E15: "always", // K27
  E16: "always", // K18
  E17: "always", // K18
  E18: "always", // K25
  E19: "always", // K19
  E20: "always", // K20
  E21: "always", // K21
  E22: "always", // K22
  E23: "always", // K23
  E24: "always", // K24
  E25: "always", // K24
  E26: "always", // K34
  E27: "always", // K36
  E28: "always", // K37
  E29: "always", // K39
  E30: "always", // K38 (bits 11:7)
  E31: "always", // K38
  E32: "always", // K28
  E33: "always", // K29
  E34: "always", // K29
  E35: "always", // K30
  E36: "always", // K31
  E39: "always", // K40
  E40: "always", // K41
  E41: "always", // K42
  E42: "always", // K42
  E43: "always", // K32
  E44: "always", // K33
  // VM-exit controls
  X1: "always", // K44
  X3: "always", // K35
  X4: "always", // K46
  X5: "always", // K46
  X6: "always", // K46
  X7: "always", // K45
  X8: "always", // K45
  X9: "always", // K45
  // VM-entry controls and event injection
  N1: "always", // K47
  N2: "always", // K48, K49
  N3: "always", // K50
  N4: "always", // K51
  N5: "always", // K52
  N6: "always", // K53
  N7: "always", // K53
  N8: "always", // K55
  N9: "always", // K59
  N10: "always", // K54
  N11: "always", // K56
  N12: "always", // K57
  N13: "always", // K60
  N14: "always", // K58
  N15: "always", // K58
  N16: "always", // K58
  // host state and address-space size
  H1: "always", // K63
  H2: "always", // K64
  H3: "always", // K66
  H4: "always", // K65
  H5: "always", // K67
  H6: "always", // K68
  H7: "always", // K84
  H8: "always", // K85
  H9: "always", // K84
  H10: "always", // K85
  H11: "always", // K84
  H12: "always", // K70
  H13: "always", // K69
  H14: "always", // K81
  H15: "always", // K82, K83
  H17: "always", // K86
  H18: "always", // K86
  H19: "always", // K86
  S1: "always", // K75
  S2: "always", // K76
  S3: "always", // K77
  S4: "always", // K78
  S5: "always", // K79
  A2: "always", // K62
  A3: "always", // K62
  A4: "always", // K72
  A5: "always", // K73
  A6: "always", // K74
  A7: "always", // K87
  A8: "always", // K71
  A9: "always", // K80
  // guest state (nested_vmx_check_guest_state, prepare_vmcs02)
  G1: "always", // K89
  G2: "always", // K101
  G3: "always", // K90
  G4: "always", // K91
  G5: "always", // K93
  G6: "always", // K102, K103
  G8: "always", // K110
  G9: "always", // K119
  G10: "always", // K92
  G13: "always", // K111
  G14: "always", // K111
  G15: "always", // K100
  G16: "always", // K94
  G17: "always", // K104
  G18: "always", // K105
  G19: "always", // K106
  G20: "always", // K107
  G21: "always", // K107
  G26: "ia32e-guest", // K108
  G27: "ia32e-guest", // K108
  G28: "ia32e-guest", // K108
  P7: "always", // K109
  P8: "always", // K111
  P9: "always", // K112
  T1: "always", // K113
  T19: "always", // K109
  T26: "always", // K95
  T27: "always", // K95
  T28: "always", // K97–K99
  T29: "always", // K97–K99
  Q1: "no-ept", // K120
  // segment rules: vmx_guest_state_valid in prepare_vmcs02 (K118), only when L2 is not an unrestricted guest
  ...Object.fromEntries(
    Array.from({ length: 44 }, (_, i) => [`R${i + 1}`, "not-unrestricted-guest" as Condition]),
  ),
};

const CONDITIONS: Record<Exclude<Condition, "always">, (c: Ctx) => boolean> = {
  "not-unrestricted-guest": (c) => (c.proc2 & PROC2.UNRESTRICTED_GUEST) === 0,
  "ia32e-guest": (c) => (c.entry & ENTRY.IA32E_GUEST) !== 0,
  "no-ept": (c) => (c.proc2 & PROC2.EPT) === 0 && (c.lo(F.GUEST_CR0) & CR0.PG) !== 0,
};

/** KVM's software checks as nvmx checks (conditional ones wrapped with their condition), registry order. */
export function kvmChecks(): Check[] {
  const out: Check[] = [];
  for (const c of CHECKS) {
    if (c.cls === "basic" || c.cls === "msr-load") continue;
    const conds = (c.checklist ?? [])
      .map((i) => KVM_CHECKLIST[i])
      .filter((x): x is Condition => x !== undefined);
    if (conds.length === 0) continue;
    if (conds.includes("always")) {
      out.push(c);
      continue;
    }
    const cond = CONDITIONS[conds[0] as Exclude<Condition, "always">];
    const inner = c.when;
    out.push(withWhen(c, inner ? (x) => cond(x) && inner(x) : cond));
  }
  return out;
}

/** Ids of the checks KVM performs in software (for documentation and `--software-checks`). */
export function kvmCheckIds(): string[] {
  return kvmChecks().map((c) => c.id);
}
