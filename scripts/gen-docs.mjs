// Writes docs/checks.md from the built registry (run after `npm run build`).
import { writeFileSync } from "node:fs";
import { checksMarkdown } from "../dist/checks/doc.js";

writeFileSync(new URL("../docs/checks.md", import.meta.url), checksMarkdown());
