/** The SDM's tables (fields, controls, registers, exit reasons, capability MSRs): the `arch` namespace of the library. */
export * from "./controls.js";
export * from "./exits.js";
export * from "./fields.js";
export * from "./msrs.js";
export * from "./registers.js";
