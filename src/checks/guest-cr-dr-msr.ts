/** SDM 29.3.1.1: guest control registers, debug registers and MSRs. */
import type { Check } from "./types.js";

export const guestCrDrMsrChecks: readonly Check[] = [];
