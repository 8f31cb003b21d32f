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
