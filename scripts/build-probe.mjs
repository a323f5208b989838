// Assembles the nvmx probe (probe/*.asm) into dist/probe-bin with nasm. Without nasm the build goes on and says
// so: `nvmx probe` and its tests are then unavailable (NVMX_PROBE_REQUIRED=1 makes that an error, as in CI).
import { spawnSync } from "node:child_process";

const root = new URL("..", import.meta.url).pathname;
const nasm = spawnSync("nasm", ["-v"], { stdio: "ignore" });
if (nasm.error) {
  const msg =
    "nvmx: nasm not found: the probe (dist/probe-bin) is not built; `nvmx probe` and its tests are unavailable (apt-get install nasm)";
  if (process.env.NVMX_PROBE_REQUIRED === "1") {
    console.error(`${msg} [NVMX_PROBE_REQUIRED=1]`);
    process.exit(1);
  }
  console.warn(msg);
  process.exit(0);
}
const r = spawnSync("sh", [`${root}probe/build.sh`, `${root}dist/probe-bin`], { stdio: "inherit" });
process.exit(r.status ?? 1);
