import type { CheckCase } from "../helpers.js";

export const cases: CheckCase[] = [];
