/** SDM 34.15.4: VM entries that return from SMM. */
import type { Check } from "./types.js";

export const smmChecks: readonly Check[] = [];
