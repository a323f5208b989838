// Loaded with `node --import` into a benchmarked command: on exit, writes the process's own CPU time and
// peak RSS (worker threads included) to stderr as one JSON line, so throughput can be given per CPU-second.
import { writeSync } from "node:fs";

process.on("exit", () => {
  const u = process.resourceUsage();
  writeSync(
    2,
    `\n${JSON.stringify({ nvmxBenchUsage: { cpuSecs: (u.userCPUTime + u.systemCPUTime) / 1e6, maxRssKB: u.maxRSS } })}\n`,
  );
});
