/** The nvmx version (package.json's, checked by test/contract/package.test.ts) and the result format's id. */
export const VERSION = "0.2.0";

/** Id of the result format (docs/contract.md §2); JSON results carry it as `format`. */
export const RESULT_FORMAT = "nvmx-result/1";
