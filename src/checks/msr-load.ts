/** SDM 29.4: loading MSRs. */
import type { Check } from "./types.js";

export const msrLoadChecks: readonly Check[] = [];
