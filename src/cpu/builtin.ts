/** The built-in CPU profiles (data files in src/cpu/profiles, bundled at build time). */
import { InputError } from "../errors.js";
import { BUILTIN_PROFILE_DATA } from "./builtin.generated.js";
import { type Caps, decodeProfile, type ProfileData } from "./profile.js";

/** Used when an entry document names no CPU (docs/contract.md §1: "a sensible modern default"). */
export const DEFAULT_PROFILE = "sapphirerapids";

const cache = new Map<string, Caps>();

/** The names of the built-in CPU profiles (`nvmx caps list`). */
export function builtinNames(): string[] {
  return BUILTIN_PROFILE_DATA.map((p) => p.name ?? "");
}

export function builtinData(name: string): ProfileData | undefined {
  return BUILTIN_PROFILE_DATA.find((p) => p.name === name);
}

/** Decoded built-in profile by name; InputError listing the known names when absent. */
export function builtinProfile(name: string, location = "cpu"): Caps {
  const hit = cache.get(name);
  if (hit) return hit;
  const data = builtinData(name);
  if (!data)
    throw new InputError(`unknown CPU profile "${name}" (built-in: ${builtinNames().join(", ")})`, {
      location,
    });
  const caps = decodeProfile(data, `profile ${name}`);
  cache.set(name, caps);
  return caps;
}

/** The profile used when a document names no CPU ({@link DEFAULT_PROFILE}). */
export function defaultProfile(): Caps {
  const names = builtinNames();
  return builtinProfile(names.includes(DEFAULT_PROFILE) ? DEFAULT_PROFILE : names[0]!);
}
