/** SDM 29.3.1.2: guest segment registers. */
import type { Check } from "./types.js";

export const guestSegmentsChecks: readonly Check[] = [];
