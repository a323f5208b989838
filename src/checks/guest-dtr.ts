/** SDM 29.3.1.3: guest descriptor-table registers. */
import type { Check } from "./types.js";

export const guestDtrChecks: readonly Check[] = [];
