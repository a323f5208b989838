/** SDM 29.2.1.3: VM-entry control fields. */
import type { Check } from "./types.js";

export const entryControlsChecks: readonly Check[] = [];
