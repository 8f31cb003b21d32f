/**
 * Helpers shared by the test files.
 * @module
 */

/**
 * Runs `fn` with a fresh temporary folder and removes the folder afterwards, also on failure.
 *
 * @param fn The test body; it receives the folder's path.
 * @param prefix Names the folder after the test file, to find leftovers.
 */
export async function withTempDir(
  fn: (dir: string) => Promise<void>,
  prefix = "cifar10_test_",
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * The names in a folder, sorted, as a person sees the run or checkpoint folder: the hidden data
 * folder a checkpoint link points to is left out (it belongs to that link). Anything else stays,
 * so a leftover of a save (an unlinked data folder, a `.tmp-` link) still shows up.
 */
export async function listDir(dir: string): Promise<string[]> {
  const entries = await Array.fromAsync(Deno.readDir(dir));
  const linked = new Set<string>();
  for (const entry of entries) {
    if (entry.isSymlink) linked.add(await Deno.readLink(`${dir}/${entry.name}`));
  }
  return entries.map((e) => e.name).filter((name) => !linked.has(name)).sort();
}

/** Removes a checkpoint entirely: its link and the data folder it points to (or a plain folder). */
export async function removeCheckpoint(path: string): Promise<void> {
  const target = await Deno.readLink(path).catch(() => null);
  if (target !== null) {
    await Deno.remove(`${path.replace(/\/[^/]+\/?$/, "")}/${target}`, { recursive: true });
  }
  await Deno.remove(path, { recursive: true });
}

/**
 * Whether this process finds a WebGPU adapter (on machines without a GPU, Mesa's software one,
 * llvmpipe, which `./run test` installs): the webgpu tests are skipped without one.
 */
export async function hasWebgpuAdapter(): Promise<boolean> {
  const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
  if (gpu === undefined) return false;
  return (await gpu.requestAdapter().catch(() => null)) !== null;
}

/**
 * A test's name, with why it is skipped when it is, so that `./run test` lists each skipped test
 * with its reason (deno test prints only "ignored").
 *
 * @param name The test's name.
 * @param skipped Its `ignore` value.
 * @param reason What is missing and how to get it.
 * @returns `name`, or `name (skipped: reason)`.
 */
export function skipName(name: string, skipped: boolean, reason: string): string {
  return skipped ? `${name} (skipped: ${reason})` : name;
}
