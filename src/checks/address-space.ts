/** SDM 29.2.4: checks related to address-space size. */
import type { Check } from "./types.js";

export const addressSpaceChecks: readonly Check[] = [];
