/** SDM 29.3.1.5: guest non-register state. */
import type { Check } from "./types.js";

export const guestNonRegisterChecks: readonly Check[] = [];
