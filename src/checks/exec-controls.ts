/** SDM 29.2.1.1: VM-execution control fields. */
import type { Check } from "./types.js";

export const execControlsChecks: readonly Check[] = [];
