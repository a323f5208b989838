/** SDM 29.3.1.4: guest RIP, RFLAGS and SSP. */
import type { Check } from "./types.js";

export const guestRipRflagsChecks: readonly Check[] = [];
