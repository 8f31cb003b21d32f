/**
 * `./run` is POSIX sh that BSD (macOS) and GNU tools both run: it parses in sh, dash, BusyBox sh
 * and bash's POSIX mode; it works with BusyBox's coreutils, sed, grep, awk and mktemp first on PATH
 * (a first setup in a fresh copy, a no-op setup, a tiny notebook run); and without root or without
 * apt-get it names each missing optional tool on one line — what is lost and the command that
 * installs it (`brew`, `sudo apt-get`, or generic words) — and goes on.
 *
 * The platform is simulated the way `./run` reads it: stub `uname`/`id`/`apt-get` scripts first on
 * PATH, and tools hidden in a private mount namespace (`unshare -m`, root only; those tests are
 * skipped elsewhere), so nothing outside the test changes.
 */
import assert from "node:assert/strict";
import { skipName, withTempDir } from "./_util.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const RUN = `${ROOT}/run`;
const decoder = new TextDecoder();

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
  seconds: number;
}

async function exec(cmd: string, args: string[], env: Record<string, string>, cwd = ROOT) {
  const started = performance.now();
  const out = await new Deno.Command(cmd, {
    args,
    cwd,
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stdout: decoder.decode(out.stdout),
    stderr: decoder.decode(out.stderr),
    seconds: (performance.now() - started) / 1000,
  } satisfies Ran;
}

async function found(cmd: string, args: string[] = ["--help"]): Promise<boolean> {
  try {
    await new Deno.Command(cmd, { args, stdout: "null", stderr: "null" }).output();
    return true;
  } catch {
    return false;
  }
}

/** This environment without what would change `./run`'s probes or the backend it trains on. */
function baseEnv(): Record<string, string> {
  const env = Deno.env.toObject();
  for (const name of Object.keys(env)) {
    if (name === "CC" || name.startsWith("CIFAR10_")) delete env[name];
  }
  return env;
}

async function writeScript(path: string, body: string): Promise<void> {
  await Deno.writeTextFile(path, `#!/bin/sh\n${body}\n`);
  await Deno.chmod(path, 0o755);
}

/**
 * A stub `apt-get` that appends its arguments to `<dir>/apt-calls` and exits with `code`: with 1 it
 * guards a run that must install nothing, with 0 it stands in for an install as root.
 */
async function stubAptGet(dir: string, code: number): Promise<string> {
  const calls = `${dir}/apt-calls`;
  await writeScript(`${dir}/apt-get`, `printf '%s\\n' "$*" >>'${calls}'\nexit ${code}`);
  return calls;
}

async function aptCalls(calls: string): Promise<string[]> {
  const text = await Deno.readTextFile(calls).catch(() => "");
  return text.split("\n").filter((line) => line !== "");
}

function runLines(stderr: string): string[] {
  return stderr.split("\n").filter((line) => line.startsWith("[run] "));
}

const busybox = await found("busybox");

/** GNU coreutils' programs, and the other tools `./run` calls that BusyBox stands in for. */
const STAND_INS = new Set(
  ("arch base32 base64 basename cat chcon chgrp chmod chown chroot cksum comm cp csplit cut date " +
    "dd df dir dircolors dirname du echo env expand expr factor false fmt fold groups head hostid " +
    "id install join link ln logname ls md5sum mkdir mkfifo mknod mktemp mv nice nl nohup nproc " +
    "numfmt od paste pathchk pinky pr printenv printf ptx pwd readlink realpath rm rmdir runcon " +
    "seq sha1sum sha224sum sha256sum sha384sum sha512sum shred shuf sleep sort split stat stdbuf " +
    "stty sum sync tac tail tee test timeout touch tr true truncate tsort tty uname unexpand uniq " +
    "unlink users vdir wc who whoami yes [ sed grep egrep fgrep awk").split(" "),
);

/** A folder of links to /usr/bin/busybox, one per applet that stands in for those tools. */
async function busyboxBin(dir: string): Promise<string[]> {
  const list = await exec("busybox", ["--list"], baseEnv());
  assert.equal(list.code, 0, list.stderr);
  const applets = list.stdout.split("\n").filter((name) => STAND_INS.has(name));
  for (const name of ["cat", "sed", "grep", "awk", "mktemp", "head", "dirname", "uname"]) {
    assert.ok(applets.includes(name), `busybox has no ${name} applet`);
  }
  for (const name of applets) await Deno.symlink("/usr/bin/busybox", `${dir}/${name}`);
  return applets;
}

Deno.test("./run is #!/bin/sh and parses in sh, dash, BusyBox sh and bash's POSIX mode", async () => {
  const text = await Deno.readTextFile(RUN);
  assert.equal(text.split("\n")[0], "#!/bin/sh");
  const shells: [string, string[]][] = [
    ["sh", ["-n", RUN]],
    ["dash", ["-n", RUN]],
    ["busybox", ["sh", "-n", RUN]],
    ["bash", ["--posix", "-n", RUN]],
  ];
  let parsed = 0;
  for (const [shell, args] of shells) {
    if (!(await found(shell, ["-c", "true"]))) continue;
    const out = await exec(shell, args, baseEnv());
    assert.equal(out.code, 0, `${shell} ${args.join(" ")}: ${out.stderr}`);
    parsed++;
  }
  assert.ok(parsed >= 1);
  // A complement to running it: no bash-only syntax and none of the GNU-only forms it once used.
  const code = text.split("\n").filter((line) => !/^\s*#/.test(line)).join("\n");
  for (
    const [pattern, what] of [
      [/\[\[/, "[["],
      [/^\s*local\s/m, "local"],
      [/BASH_SOURCE/, "BASH_SOURCE"],
      [/\+=\(|=\(\)|\$\{#?\w+\[/, "arrays"],
      [/<<</, "here-strings"],
      [/^\s*function\s/m, "function"],
      [/mktemp\s+--|--suffix/, "GNU mktemp options"],
      [/ldconfig/, "ldconfig"],
      [/readlink -f|sed -i|grep -P|echo -e/, "GNU-only options"],
      [/^set -[a-z]*o pipefail/m, "unguarded pipefail"],
    ] as const
  ) {
    assert.doesNotMatch(code, pattern, `./run uses ${what}`);
  }
});

Deno.test({
  name: skipName(
    "./run with BusyBox's tools first on PATH: a no-op setup, then a tiny notebook run",
    !busybox,
    "no BusyBox (sudo apt-get install busybox)",
  ),
  ignore: !busybox,
  fn: () =>
    withTempDir(async (dir) => {
      await Deno.mkdir(`${dir}/bin`);
      await Deno.mkdir(`${dir}/guard`);
      const applets = await busyboxBin(`${dir}/bin`);
      const calls = await stubAptGet(`${dir}/guard`, 1);
      const env = { ...baseEnv(), PATH: `${dir}/bin:${dir}/guard:${Deno.env.get("PATH")}` };
      const which = await exec("sh", [
        "-c",
        "for c in sed mktemp awk; do command -v $c; done; sed --help 2>&1",
      ], env);
      assert.match(which.stdout, new RegExp(`^${dir}/bin/sed\n${dir}/bin/mktemp\n${dir}/bin/awk`));
      assert.match(which.stdout, /BusyBox/);

      const setup = await exec("busybox", ["sh", "./run", "setup"], env);
      console.log(
        `busybox sh ./run setup (${applets.length} applets): exit ${setup.code} in ` +
          `${setup.seconds.toFixed(1)} s`,
      );
      assert.equal(setup.code, 0, setup.stderr);
      const lines = runLines(setup.stderr);
      assert.ok(lines.some((line) => line.startsWith("[run] ready: Deno 2.")), setup.stderr);
      assert.deepEqual(
        lines.filter((line) => /^\[run\] (installing|registering|apt-get)/.test(line)),
        [],
        setup.stderr,
      );
      assert.deepEqual(await aptCalls(calls), []);

      const out = `${dir}/out`;
      const notebook = await exec("busybox", [
        "sh",
        "./run",
        "notebook",
        "--synthetic",
        "--epochs",
        "1",
        "--train-limit",
        "300",
        "--test-limit",
        "100",
        "--output",
        out,
        "--out",
        `${out}/runs`,
        "--quiet",
      ], env);
      console.log(
        `busybox sh ./run notebook --synthetic --epochs 1 --train-limit 300 --test-limit 100: ` +
          `exit ${notebook.code} in ${notebook.seconds.toFixed(1)} s`,
      );
      assert.equal(notebook.code, 0, notebook.stderr);
      const html = await Deno.readTextFile(`${out}/cifar10_cnn.html`);
      assert.ok(html.length > 10_000 && html.includes("SYNTHETIC"));
      assert.deepEqual(await aptCalls(calls), []);
    }, "cifar10_run_script_"),
});

Deno.test({
  name: skipName(
    "./run's first setup with BusyBox's tools: npm install, a bundle in a mktemp -d folder",
    !busybox,
    "no BusyBox (sudo apt-get install busybox)",
  ),
  ignore: !busybox,
  fn: () =>
    withTempDir(async (dir) => {
      // A fresh copy with no npm packages (nothing to download): Deno and the venv are the
      // project's, through links, and are only read.
      const copy = `${dir}/project`;
      await Deno.mkdir(`${copy}/web`, { recursive: true });
      await Deno.mkdir(`${copy}/scripts/jupyter`, { recursive: true });
      await Deno.copyFile(RUN, `${copy}/run`);
      await Deno.chmod(`${copy}/run`, 0o755);
      await Deno.copyFile(`${ROOT}/web/browser_builtins.ts`, `${copy}/web/browser_builtins.ts`);
      await Deno.copyFile(
        `${ROOT}/scripts/jupyter/requirements.txt`,
        `${copy}/scripts/jupyter/requirements.txt`,
      );
      await Deno.writeTextFile(`${copy}/deno.json`, `{ "nodeModulesDir": "auto" }\n`);
      await Deno.writeTextFile(`${copy}/deno.lock`, `{ "version": "5" }\n`);
      await Deno.symlink(`${ROOT}/.tools`, `${copy}/.tools`);
      await Deno.symlink(`${ROOT}/.venv`, `${copy}/.venv`);
      await Deno.mkdir(`${dir}/bin`);
      await Deno.mkdir(`${dir}/guard`);
      await Deno.mkdir(`${dir}/tmp`);
      await busyboxBin(`${dir}/bin`);
      const calls = await stubAptGet(`${dir}/guard`, 1);
      const env = {
        ...baseEnv(),
        PATH: `${dir}/bin:${dir}/guard:${Deno.env.get("PATH")}`,
        TMPDIR: `${dir}/tmp`,
      };
      const setup = await exec("busybox", ["sh", "./run", "setup"], env, copy);
      assert.equal(setup.code, 0, setup.stderr);
      const lines = runLines(setup.stderr);
      assert.ok(lines.includes("[run] installing npm packages pinned in deno.lock"), setup.stderr);
      assert.ok(lines.some((line) => line.startsWith("[run] registering the Deno Jupyter kernel")));
      assert.ok(lines.some((line) => line.startsWith("[run] ready: ")), setup.stderr);
      const stamp = await Deno.readTextFile(`${copy}/node_modules/.run-stamp`);
      assert.match(stamp, /^\d+ \d+\n$/);
      const spec = JSON.parse(await Deno.readTextFile(`${copy}/.jupyter/kernels/deno/kernel.json`));
      assert.equal(spec.argv[0], `${copy}/.tools/node_modules/.bin/deno`);
      // The bundle's temporary folder was made in TMPDIR and removed.
      assert.deepEqual(await Array.fromAsync(Deno.readDir(`${dir}/tmp`)), []);
      assert.deepEqual(await aptCalls(calls), []);
    }, "cifar10_run_script_"),
});

/** Whether this process can hide files in a private mount namespace (root with `unshare -m`). */
async function canHide(): Promise<boolean> {
  if (Deno.uid() !== 0 || !(await found("unshare", ["--version"]))) return false;
  return await withTempDirResult(async (dir) => {
    const out = await exec(
      "unshare",
      ["-m", "sh", "-c", `mount -t tmpfs none '${dir}'`],
      baseEnv(),
    );
    return out.code === 0;
  });
}

async function withTempDirResult<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  let result: T | undefined;
  await withTempDir(async (dir) => {
    result = await fn(dir);
  }, "cifar10_run_script_");
  return result as T;
}

const hideable = await canHide();

/**
 * The shell lines that hide, in the namespace, every optional tool `./run` probes: Chromium, the C
 * compilers (clang among them), BusyBox, OpenBLAS, the DejaVu fonts, Mesa's Vulkan drivers and loader, Debian's PyTorch (and,
 * with `noApt`, apt-get). A folder is covered by an empty tmpfs, a file by /dev/null (not a file,
 * not executable).
 */
function hideScript(noApt: boolean): string {
  const commands = ["chromium", "cc", "gcc", "clang", "busybox", ...(noApt ? ["apt-get"] : [])];
  return [
    "set -e",
    `hide() { for p in "$@"; do if [ -d "$p" ]; then mount -t tmpfs none "$p"; ` +
    `elif [ -e "$p" ]; then mount --bind /dev/null "$p"; fi; done; }`,
    "for d in /usr/lib/x86_64-linux-gnu /usr/lib/aarch64-linux-gnu /usr/lib64 /usr/lib " +
    '/usr/local/lib; do hide "$d"/libopenblas.so.0 "$d"/openblas* "$d"/libvulkan.so.1; done',
    `old_ifs=$IFS; IFS=:; for d in $PATH; do IFS=$old_ifs; ` +
    `for c in ${commands.join(" ")}; do hide "$d/$c"; done; done; IFS=$old_ifs`,
    "hide /usr/bin/chromium /usr/share/fonts /usr/share/vulkan/icd.d " +
    "/usr/lib/python3/dist-packages/torch /usr/lib/python3/dist-packages/torchvision",
  ].join("\n");
}

interface Platform {
  /** `uname -s` and `uname -m`; the real ones when absent. */
  uname?: [string, string];
  /** `id -u`. */
  uid: string;
  /** A stub apt-get exiting with this code, or none at all (every apt-get hidden). */
  apt: 0 | 1 | "none";
  /** The shell that runs ./run. */
  shell?: string[];
}

/** What a simulated run printed and did. */
interface Simulated extends Ran {
  /** Its `[run] ` lines. */
  lines: string[];
  /** The stub apt-get's calls, one string of arguments each. */
  aptCalls: string[];
  /** For a notebook run: the exported HTML's size and the run record's status and backend. */
  notebook?: { htmlBytes: number; status: string; backend: string };
}

/** Runs `./run <args>` on a simulated platform with every optional tool hidden. */
async function simulate(platform: Platform, args: string[]): Promise<Simulated> {
  return await withTempDirResult(async (dir) => {
    await Deno.mkdir(`${dir}/stubs`);
    if (platform.uname !== undefined) {
      const [s, m] = platform.uname;
      await writeScript(
        `${dir}/stubs/uname`,
        `case "\${1:-}" in -m) echo ${m} ;; *) echo ${s} ;; esac`,
      );
    }
    await writeScript(
      `${dir}/stubs/id`,
      `if [ "\${1:-}" = -u ]; then echo ${platform.uid}; else exec /usr/bin/id "$@"; fi`,
    );
    const calls = platform.apt === "none" ? null : await stubAptGet(`${dir}/stubs`, platform.apt);
    const env = { ...baseEnv(), PATH: `${dir}/stubs:${Deno.env.get("PATH")}` };
    const shell = platform.shell ?? ["sh"];
    const words = [...shell, "./run", ...args.map((arg) => arg.replaceAll("$OUT", `${dir}/out`))];
    const script = `${hideScript(platform.apt === "none")}\nexec ${
      words.map((word) => `'${word}'`).join(" ")
    }`;
    const ran = await exec("unshare", ["-m", "sh", "-c", script], env);
    const result: Simulated = {
      ...ran,
      lines: runLines(ran.stderr),
      aptCalls: calls ? await aptCalls(calls) : [],
    };
    if (args[0] === "notebook" && ran.code === 0) {
      const html = await Deno.stat(`${dir}/out/cifar10_cnn.html`);
      const [run] = await Array.fromAsync(Deno.readDir(`${dir}/out/runs`));
      const metrics = JSON.parse(
        await Deno.readTextFile(`${dir}/out/runs/${run!.name}/metrics.json`),
      );
      result.notebook = {
        htmlBytes: html.size,
        status: metrics.status,
        backend: metrics.backend.name,
      };
    }
    return result;
  });
}

/** The simulated runs the tests below check; they run all at once, on the first test's call. */
const SIMULATIONS = {
  mac: {
    platform: { uname: ["Darwin", "arm64"], uid: "501", apt: "none", shell: ["bash", "--posix"] },
    args: ["setup"],
  },
  user: { platform: { uid: "1000", apt: 1 }, args: ["setup"] },
  userNoApt: { platform: { uid: "1000", apt: "none", shell: ["dash"] }, args: ["setup"] },
  root: { platform: { uid: "0", apt: 0 }, args: ["setup"] },
  notebook: {
    platform: { uid: "1000", apt: 1 },
    args:
      "notebook --synthetic --epochs 1 --train-limit 200 --test-limit 100 --output $OUT --out $OUT/runs --quiet"
        .split(" "),
  },
} satisfies Record<string, { platform: Platform; args: string[] }>;

let simulations: Promise<Record<keyof typeof SIMULATIONS, Simulated>> | undefined;

async function simulated(name: keyof typeof SIMULATIONS): Promise<Simulated> {
  simulations ??= (async () => {
    const started = performance.now();
    const entries = await Promise.all(
      Object.entries(SIMULATIONS).map(async ([key, { platform, args }]) =>
        [key, await simulate(platform as Platform, args)] as const
      ),
    );
    console.log(
      `${entries.length} simulated runs at once: ${
        ((performance.now() - started) / 1000).toFixed(1)
      } s (${entries.map(([key, ran]) => `${key} ${ran.seconds.toFixed(1)} s`).join(", ")})`,
    );
    return Object.fromEntries(entries) as Record<keyof typeof SIMULATIONS, Simulated>;
  })();
  return (await simulations)[name];
}

const hasBenchVenv = (() => {
  try {
    return [...Deno.readDirSync(`${ROOT}/.tools`)].some((entry) =>
      entry.name.startsWith("pytorch-")
    );
  } catch {
    return false;
  }
})();

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Checks that `lines` hold exactly one `missing` line per item, naming its install command. */
function assertMissing(lines: string[], expected: [string, string][], stderr: string): void {
  const missing = lines.filter((line) => line.startsWith("[run] missing "));
  for (const [what, command] of expected) {
    const pattern = new RegExp(
      `^\\[run\\] missing ${escape(what)}: [^;]+; install with: ${escape(command)}$`,
    );
    assert.equal(missing.filter((line) => pattern.test(line)).length, 1, `${what}:\n${stderr}`);
  }
  assert.equal(missing.length, expected.length, stderr);
}

const PYTORCH: [string, string][] = hasBenchVenv ? [] : [["PyTorch", ""]];

Deno.test({
  name: skipName(
    "./run on a simulated Mac (Darwin, uid 501, no apt-get): brew lines, and it goes on",
    !hideable,
    "simulating other platforms needs root and unshare -m",
  ),
  ignore: !hideable,
  fn: async () => {
    const ran = await simulated("mac");
    assert.equal(ran.code, 0, ran.stderr);
    // No OpenBLAS (Accelerate has cblas), fonts or Vulkan lines on macOS.
    assertMissing(ran.lines, [
      ["Chromium", "brew install --cask chromium"],
      ["a C compiler (cc/gcc)", "xcode-select --install"],
      ...PYTORCH.map(([what]): [string, string] => [
        what,
        "./run bench (its first run installs PyTorch into .tools/ with pip)",
      ]),
    ], ran.stderr);
    assert.doesNotMatch(ran.stderr, /apt-get|sudo/);
    assert.ok(ran.lines.some((line) => line.startsWith("[run] ready: ")), ran.stderr);
  },
});

Deno.test({
  name: skipName(
    "./run as a normal user on Linux: sudo apt-get lines, nothing installed, and it goes on",
    !hideable,
    "simulating other platforms needs root and unshare -m",
  ),
  ignore: !hideable,
  fn: async () => {
    const ran = await simulated("user");
    assert.equal(ran.code, 0, ran.stderr);
    assertMissing(ran.lines, [
      ["Chromium", "sudo apt-get install chromium"],
      ["OpenBLAS", "sudo apt-get install libopenblas0-pthread"],
      ["a C compiler (cc/gcc)", "sudo apt-get install gcc"],
      ["the DejaVu fonts", "sudo apt-get install fonts-dejavu-core"],
      ["Mesa's Vulkan drivers", "sudo apt-get install mesa-vulkan-drivers libvulkan1"],
      ["BusyBox", "sudo apt-get install busybox"],
      ["clang", "sudo apt-get install clang"],
      ...PYTORCH.map(([what]): [string, string] => [
        what,
        "sudo apt-get install python3-torch python3-torchvision",
      ]),
    ], ran.stderr);
    assert.deepEqual(ran.aptCalls, []);
    assert.ok(ran.lines.some((line) => line.startsWith("[run] ready: ")), ran.stderr);
  },
});

Deno.test({
  name: skipName(
    "./run as a normal user on Linux without apt-get: generic lines, and it goes on",
    !hideable,
    "simulating other platforms needs root and unshare -m",
  ),
  ignore: !hideable,
  fn: async () => {
    const ran = await simulated("userNoApt");
    assert.equal(ran.code, 0, ran.stderr);
    const missing = ran.lines.filter((line) => line.startsWith("[run] missing "));
    assert.equal(missing.length, 7 + PYTORCH.length, ran.stderr);
    for (const line of missing) {
      assert.match(line, /; install with: .*(package manager|\.\/run bench)/, line);
    }
    assert.doesNotMatch(ran.stderr, /apt-get|sudo|brew/);
    assert.ok(ran.lines.some((line) => line.startsWith("[run] ready: ")), ran.stderr);
  },
});

Deno.test({
  name: skipName(
    "./run as root with apt-get installs every missing tool in one apt-get install, as before",
    !hideable,
    "simulating other platforms needs root and unshare -m",
  ),
  ignore: !hideable,
  fn: async () => {
    const ran = await simulated("root");
    assert.equal(ran.code, 0, ran.stderr);
    assert.deepEqual(ran.lines.filter((line) => line.startsWith("[run] missing ")), []);
    assert.equal(ran.aptCalls.length, 2, ran.stderr);
    assert.equal(ran.aptCalls[0], "update -qq");
    const [install, ...packages] = ran.aptCalls[1]!.split(" ").filter((word) => !/^-/.test(word));
    assert.equal(install, "install");
    assert.deepEqual(
      packages.sort(),
      [
        "busybox",
        "chromium",
        "clang",
        "fonts-dejavu-core",
        "gcc",
        "libopenblas0-pthread",
        "libvulkan1",
        "mesa-vulkan-drivers",
        ...(hasBenchVenv ? [] : ["python3-torch", "python3-torchvision"]),
      ].sort(),
    );
  },
});

Deno.test({
  name: skipName(
    "./run notebook as a normal user without OpenBLAS and a compiler trains on wasm",
    !hideable,
    "simulating other platforms needs root and unshare -m",
  ),
  ignore: !hideable,
  fn: async () => {
    const ran = await simulated("notebook");
    assert.equal(ran.code, 0, ran.stderr);
    assertMissing(ran.lines, [
      ["OpenBLAS", "sudo apt-get install libopenblas0-pthread"],
      ["a C compiler (cc/gcc)", "sudo apt-get install gcc"],
    ], ran.stderr);
    assert.ok(ran.notebook !== undefined && ran.notebook.htmlBytes > 10_000, ran.stderr);
    assert.equal(ran.notebook.status, "completed");
    assert.equal(ran.notebook.backend, "wasm");
    assert.deepEqual(ran.aptCalls, []);
  },
});
