/**
 * Property tests run with a fixed seed so CI is deterministic; set FC_SEED to explore other inputs
 * (e.g. FC_SEED=$RANDOM npx vitest run).
 */
import fc from "fast-check";

fc.configureGlobal({ seed: Number(process.env["FC_SEED"] ?? 20261125) });
