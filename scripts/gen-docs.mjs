// Writes docs/checks.md from the built registry (run after `npm run build`), with the nested model's column
// of which kernel preset checks each rule in software.
import { writeFileSync } from "node:fs";
import { checksMarkdown } from "../dist/checks/doc.js";
import { softwareChecksColumn } from "../dist/nested/compare.js";

writeFileSync(new URL("../docs/checks.md", import.meta.url), checksMarkdown([softwareChecksColumn()]));
