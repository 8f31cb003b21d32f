import assert from "node:assert/strict";
import { displayPath, PROJECT_ROOT } from "../../lib/core/paths.ts";

Deno.test("displayPath() shows project paths relative, home paths as ~/…, others in full", () => {
  const at = { root: "/home/ann/cifar", home: "/home/ann" };
  assert.equal(displayPath("/home/ann/cifar", at), ".");
  assert.equal(displayPath("/home/ann/cifar/runs/20261202-a", at), "runs/20261202-a");
  assert.equal(displayPath("/home/ann/cifar/runs/../data/x.tar.gz", at), "data/x.tar.gz");
  assert.equal(displayPath("/home/ann/shared/c.tar.gz", at), "~/shared/c.tar.gz");
  assert.equal(displayPath("/home/ann", at), "~");
  // A sibling whose name starts like the root is not inside it.
  assert.equal(displayPath("/home/ann/cifar-old/runs", at), "~/cifar-old/runs");
  assert.equal(displayPath("/home/annie/x", at), "/home/annie/x");
  assert.equal(displayPath("/srv/data", at), "/srv/data");
  assert.equal(displayPath("/srv/data", { ...at, home: null }), "/srv/data");
  // HOME=/ would make every path "~/…": shown in full instead.
  assert.equal(displayPath("/srv/data", { root: "/p", home: "/" }), "/srv/data");
  // Beside the project (a shared data set next to the clone): ../…, unless the parent is /.
  const work = { root: "/work/main", home: "/root" };
  assert.equal(displayPath("/work/shared/datasets/c.tar.gz", work), "../shared/datasets/c.tar.gz");
  assert.equal(displayPath("/work", work), "..");
  assert.equal(displayPath("/srv/c.tar.gz", work), "/srv/c.tar.gz");
  assert.equal(displayPath("/srv/c.tar.gz", { root: "/p", home: null }), "/srv/c.tar.gz");
  // The default root is this project.
  assert.equal(displayPath(`${PROJECT_ROOT}/runs/r1`), "runs/r1");
});
