/**
 * Where tests look for the real CIFAR-10 copy: `CIFAR10_REAL_ARCHIVE` when set, else the shared
 * JPEG-decoded copy beside the checkout (`../shared/datasets/cifar10-jpeg/`). Tests that need it
 * are skipped, saying so, when it is absent.
 * @module
 */
import { fileURLToPath } from "node:url";

/** Path of the real data set archive used by the real-data tests. */
export const REAL_ARCHIVE: string = Deno.env.get("CIFAR10_REAL_ARCHIVE") ||
  fileURLToPath(
    new URL("../../shared/datasets/cifar10-jpeg/cifar-10-binary.tar.gz", import.meta.url),
  );
