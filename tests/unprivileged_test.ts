import assert from "node:assert/strict";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { skipName, withTempDir } from "./_util.ts";

// A learner without root: a fresh clone run as uid 65534 (nobody) with Chromium, OpenBLAS and the
// C compilers hidden (bind mounts in a private mount namespace), as on a laptop where nobody
// installed them. `./run train` must train on the slower backend and say why; `deno test` must
// fail nothing and name each test it skips with the reason.

const ROOT = fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");
const NOBODY = 65534;

async function runs(command: string, args: string[]): Promise<boolean> {
  try {
    return (await new Deno.Command(command, { args, stdout: "null", stderr: "null" }).output())
      .success;
  } catch {
    return false;
  }
}

const root = Deno.uid() === 0;
const ready = root && await runs("setpriv", ["--version"]) &&
  await runs("unshare", ["--version"]) &&
  await runs("unshare", ["-m", "true"]);

/** Shell lines that hide OpenBLAS, Chromium and every C compiler in this mount namespace. */
const HIDE = [
  "set -e",
  `hide() { for p in "$@"; do if [ -d "$p" ]; then mount -t tmpfs none "$p"; ` +
  `elif [ -e "$p" ]; then mount --bind /dev/null "$p"; fi; done; }`,
  "for d in /usr/lib/x86_64-linux-gnu /usr/lib/aarch64-linux-gnu /usr/lib64 /usr/lib " +
  '/usr/local/lib; do hide "$d"/libopenblas.so.0 "$d"/openblas*; done',
  "for d in /usr/local/bin /usr/bin /bin; do for c in chromium cc gcc clang clang-14 " +
  'x86_64-linux-gnu-gcc x86_64-linux-gnu-gcc-12; do hide "$d/$c"; done; done',
].join("\n");

/** Runs `command` (a shell line) in the clone as uid 65534 with the tools hidden. */
async function asNobody(dir: string, command: string) {
  // The Deno running these tests (so ./run installs none), and the network settings a user's
  // shell has (a proxy, an extra CA bundle), which `env -i` would drop.
  const passed = [
    "NODE_EXTRA_CA_CERTS",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "NO_PROXY",
    "https_proxy",
    "http_proxy",
    "no_proxy",
  ].flatMap((name) => {
    const value = Deno.env.get(name);
    return value === undefined || /[\s'"]/.test(value) ? [] : [`${name}=${value}`];
  });
  const env = [
    ...passed,
    "PATH=" + `${dirname(Deno.execPath())}:/usr/local/bin:/usr/bin:/bin`,
    `HOME=${dir}/home`,
    `DENO_DIR=${dir}/home/deno`,
    "NO_COLOR=1",
  ];
  const script = `${HIDE}\ncd ${dir}/repo\nexec setpriv --reuid=${NOBODY} --regid=${NOBODY} ` +
    `--clear-groups env -i ${env.join(" ")} sh -c '${command}'`;
  const output = await new Deno.Command("unshare", {
    args: ["-m", "sh", "-c", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}

Deno.test({
  name: skipName(
    "a fresh clone as uid 65534 without Chromium, OpenBLAS or gcc trains on wasm and says why; its tests skip by name",
    !ready,
    "needs root, setpriv and unshare -m (util-linux) to become uid 65534 with tools hidden",
  ),
  ignore: !ready,
  fn: () =>
    withTempDir(async (dir) => {
      await Deno.chmod(dir, 0o755);
      const clone = await new Deno.Command("git", {
        args: ["clone", "-q", ROOT, `${dir}/repo`],
        stderr: "piped",
      }).output();
      assert.ok(clone.success, new TextDecoder().decode(clone.stderr));
      // The npm packages are the project's own (read-only to nobody); everything else is new.
      await Deno.symlink(`${ROOT}/node_modules`, `${dir}/repo/node_modules`);
      await Deno.mkdir(`${dir}/home`);
      for (const path of [`${dir}/repo`, `${dir}/home`]) {
        const chown = await new Deno.Command("chown", {
          args: ["-R", "-h", `${NOBODY}:${NOBODY}`, path],
        }).output();
        assert.ok(chown.success);
      }

      const train = await asNobody(
        dir,
        "sh ./run train --synthetic --epochs 1 --train-limit 120 --test-limit 60 --out runs",
      );
      assert.equal(train.code, 0, train.stderr + train.stdout);
      const text = train.stderr + train.stdout;
      assert.match(
        text,
        /\[run\] missing OpenBLAS: training falls back from the blas backend to wasm .*; install with: sudo apt-get install libopenblas0-pthread/,
      );
      assert.match(text, /\[run\] missing a C compiler \(cc\/gcc\): .*sudo apt-get install gcc/);
      // The backend line names wasm and why blas was skipped.
      assert.match(text, /wasm[^\n]*skipped[^\n]*blas: [^\n]*Cannot load OpenBLAS/);

      const test = await asNobody(
        dir,
        "deno test -A tests/engine/kernels/blas/cblas_test.ts tests/engine/kernels/blas/matmul_test.ts " +
          "tests/engine/kernels/native/build_test.ts tests/serve_test.ts 2>&1",
      );
      assert.equal(test.code, 0, test.stdout);
      assert.match(test.stdout, /\| 0 failed/);
      const skipped = test.stdout.split("\n").filter((line) => / \.\.\. ignored/.test(line));
      assert.ok(skipped.length >= 3, test.stdout);
      for (const line of skipped) assert.match(line, /\(skipped: .+\) \.\.\. ignored/, line);
      assert.ok(skipped.some((line) => /OpenBLAS did not load/.test(line)), test.stdout);
      assert.ok(skipped.some((line) => /no Chromium/.test(line)), test.stdout);
    }, "cifar10_unprivileged_"),
});
