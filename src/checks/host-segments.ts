/** SDM 29.2.3: host segment and descriptor-table registers. */
import type { Check } from "./types.js";

export const hostSegmentsChecks: readonly Check[] = [];
