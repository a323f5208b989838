// npm `prepare` (also run by `npm ci` and by `npm install git+URL`): build when dist/ is missing, so that a
// git-URL install gets a working `nvmx`, while a developer's repeated `npm ci` does not rebuild each time.
import { execSync } from "node:child_process";
import { existsSync } from "node:fs";

const root = new URL("..", import.meta.url).pathname;
if (existsSync(new URL("../dist/cli/main.js", import.meta.url))) process.exit(0);
execSync("npm run build --silent", { cwd: root, stdio: "inherit" });
