/** SDM 29.2.1.2: VM-exit control fields. */
import type { Check } from "./types.js";

export const exitControlsChecks: readonly Check[] = [];
