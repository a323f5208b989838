/** SDM 29.3.1.6: guest PDPTEs. */
import type { Check } from "./types.js";

export const guestPdpteChecks: readonly Check[] = [];
