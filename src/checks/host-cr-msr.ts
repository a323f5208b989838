/** SDM 29.2.2: host control registers, MSRs and SSP. */
import type { Check } from "./types.js";

export const hostCrMsrChecks: readonly Check[] = [];
