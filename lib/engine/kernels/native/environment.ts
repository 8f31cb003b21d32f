/**
 * Internal: what the native libraries (OpenBLAS through blas/cblas.ts, our kernels through
 * native_kernels.ts) read from the process environment, asked only with the permission to ask:
 * permission checks that never throw, environment reads, and the thread settings applied before
 * either library loads.
 * @module
 */

/**
 * Whether Deno grants a permission now, without prompting; false when the query itself fails.
 *
 * @param descriptor The permission, e.g. `{ name: "ffi" }`.
 * @returns True when granted.
 * @example
 * ```ts
 * import { permissionGranted } from "./environment.ts";
 * if (typeof permissionGranted({ name: "ffi" }) !== "boolean") throw new Error("not a boolean");
 * ```
 */
export function permissionGranted(descriptor: Deno.PermissionDescriptor): boolean {
  try {
    return Deno.permissions.querySync(descriptor).state === "granted";
  } catch {
    return false;
  }
}

/**
 * An environment variable's value, or undefined when it is unset or reading it is not allowed.
 *
 * @param name The variable.
 * @param env Variables to read instead of the process's (tests: the process's environment is
 *   shared by every test file that `deno test --parallel` runs, so setting it races).
 * @returns Its value.
 */
export function envValue(
  name: string,
  env?: Readonly<Record<string, string | undefined>>,
): string | undefined {
  if (env !== undefined) return env[name];
  return permissionGranted({ name: "env", variable: name }) ? Deno.env.get(name) : undefined;
}

/**
 * Thread settings applied (where unset) before OpenBLAS and the native kernels load. Both keep
 * their worker threads spinning after each call — OpenBLAS for about 2²⁸ cycles, libgomp for a
 * while — so on a 2-core machine the two pools and the main thread starve one another (a training
 * step took 1.5–2× longer). Sleeping at once costs one wake-up, tens of microseconds, per call.
 */
export const THREAD_ENV_DEFAULTS: Readonly<Record<string, string>> = {
  OPENBLAS_THREAD_TIMEOUT: "4",
  OMP_WAIT_POLICY: "passive",
};

/** The variables of {@linkcode THREAD_ENV_DEFAULTS} this process set (not ones it inherited). */
export const threadEnvApplied = new Set<string>();

/**
 * Sets each unset variable of {@linkcode THREAD_ENV_DEFAULTS}; the libraries read them when they
 * load. Without --allow-env nothing changes (slower, not wrong). Child processes inherit the
 * values: spawn them without the names in {@linkcode threadEnvApplied} to keep their defaults.
 */
export function applyThreadEnvDefaults(): void {
  for (const [name, value] of Object.entries(THREAD_ENV_DEFAULTS)) {
    if (!permissionGranted({ name: "env", variable: name })) continue;
    if (Deno.env.get(name) !== undefined) continue;
    Deno.env.set(name, value);
    threadEnvApplied.add(name);
  }
}
