/**
 * The predict command line (scripts/predict.ts, in process and as `deno task predict`) and
 * notebooks/your_images.ipynb executed headless in the project's Deno kernel (skipped without
 * Jupyter).
 * @module
 */
import assert from "node:assert/strict";
import { skipName, withTempDir } from "../_util.ts";
import { main, parsePredictArgs, type PredictIo } from "../../scripts/predict.ts";
import { gradientImage, saveRun, softmax } from "./_fixtures.ts";
import { displayPath } from "../../lib/core/paths.ts";

// ---------------------------------------------------------------------------------------------
// The command line.

Deno.test("parsePredictArgs() splits files from flags and names bad flags", () => {
  const parsed = parsePredictArgs(
    [
      "a.png",
      "--run",
      "runs/x",
      "--fit=crop",
      "b.jpg",
      "--top",
      "5",
      "--json",
      "--out",
      "o",
      "--",
      "--c.png",
    ],
    { CIFAR10_BACKEND: "cpu", CIFAR10_EPOCHS: "not read" },
  );
  assert.deepEqual(parsed.files, ["a.png", "b.jpg", "--c.png"]);
  assert.deepEqual(
    [parsed.run, parsed.fit, parsed.top, parsed.json, parsed.config.outDir, parsed.config.backend],
    ["runs/x", "crop", 5, true, "o", "cpu"],
  );
  const defaults = parsePredictArgs(["a.png"], {});
  assert.deepEqual([defaults.run, defaults.fit, defaults.top, defaults.json], [
    "latest",
    "stretch",
    3,
    false,
  ]);
  const cases: [string[], string][] = [
    [["--fit", "square"], 'Cannot parse --fit: expected stretch or crop, found "square"'],
    [["--top", "0"], 'Cannot parse --top: expected an integer from 1 to 10, found "0"'],
    [["--top", "2.5"], 'Cannot parse --top: expected an integer from 1 to 10, found "2.5"'],
    [
      ["--epochs", "3"],
      "Cannot use flag --epochs with predict: expected one of --run, --fit, --top, --json, --out, --backend, --help",
    ],
    [["--run"], "Cannot parse --run: expected a value after it, found nothing"],
  ];
  for (const [args, message] of cases) {
    assert.throws(
      () => parsePredictArgs(args, {}),
      { name: "RangeError", message },
      args.join(" "),
    );
  }
  assert.throws(() => parsePredictArgs(["--colour", "a.png"], {}), {
    name: "RangeError",
    message: /^Cannot use flag --colour: unknown flag; allowed flags: .*--fit/,
  });
});

function fakeIo(): PredictIo & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, print: (l) => void out.push(l), error: (l) => void err.push(l), env: {} };
}

Deno.test("predict CLI main(): table, JSON, per-file errors and exit codes", async () => {
  await withTempDir(async (dir) => {
    const runs = `${dir}/runs`;
    const bias = [0.5, 3, 1, 0, 2, 0, 0, 0, 2.5, 0];
    const runDir = await saveRun(runs, "20260101-000000-aaaaaa", { bias });
    await Deno.mkdir(`${dir}/pictures`);
    await Deno.writeFile(`${dir}/pictures/a.png`, gradientImage(64, 48, "png"));
    await Deno.writeFile(`${dir}/pictures/b.jpg`, gradientImage(30, 30, "jpeg"));
    const p = softmax(bias).map((v) => `${(100 * v).toFixed(1)}%`);
    const base = ["--out", runs, "--backend", "cpu"];

    // All good: exit 0, the model line then the table; a folder stands for its images.
    let io = fakeIo();
    assert.equal(await main([...base, `${dir}/pictures`], io), 0);
    assert.equal(
      io.out[0],
      `Model: ${displayPath(runDir)}/best-model (epoch 4, validation loss 1.5000)`,
    );
    const table = io.out[1]!.split("\n");
    assert.equal(table.length, 4);
    assert.match(
      table[2]!,
      new RegExp(
        `^${dir}/pictures/a\\.png +64×48 +stretch +automobile ${p[1]} +ship ${p[8]} +deer ${p[4]}$`,
      ),
    );
    assert.match(table[3]!, /\/pictures\/b\.jpg +30×30 +stretch +automobile/);

    // One bad file: the others still classified, an error line naming it, exit 1.
    io = fakeIo();
    assert.equal(
      await main([...base, "--fit", "crop", `${dir}/pictures/a.png`, `${dir}/nope.png`], io),
      1,
    );
    assert.match(io.out[1]!.split("\n")[2]!, /a\.png +64×48 +crop +automobile/);
    assert.deepEqual(io.err.slice(-2), [
      `predict: Cannot read image "${dir}/nope.png": no such file`,
      "predict: 1 of 2 files could not be classified",
    ]);

    // JSON: every file, in order, with all probabilities.
    io = fakeIo();
    assert.equal(
      await main([...base, "--json", "--top", "2", `${dir}/pictures/b.jpg`, `${dir}/nope.png`], io),
      1,
    );
    const json = JSON.parse(io.out.join("\n"));
    assert.equal(json.run.checkpointDir, `${runDir}/best-model`);
    assert.deepEqual(json.results[0].top.map((c: { class: string }) => c.class), [
      "automobile",
      "ship",
    ]);
    const sum = Object.values(json.results[0].probabilities as Record<string, number>)
      .reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sum - 1) < 1e-6);
    assert.deepEqual(json.results[1], {
      file: `${dir}/nope.png`,
      ok: false,
      error: { name: "NotFound", message: `Cannot read image "${dir}/nope.png": no such file` },
    });

    // No model, no files, bad flag.
    io = fakeIo();
    assert.equal(await main(["--out", `${dir}/empty`, "--backend", "cpu", "a.png"], io), 1);
    assert.equal(
      io.err.at(-1),
      `predict: No trained model found under ${
        displayPath(`${dir}/empty`)
      }/: train one with \`deno task train\` or pass --run PATH`,
    );
    io = fakeIo();
    assert.equal(await main([...base], io), 2);
    assert.equal(
      io.err[0],
      "predict: no image files given: expected one or more PNG or JPEG paths",
    );
    io = fakeIo();
    assert.equal(await main(["--fit", "square", "a.png"], io), 2);
    assert.equal(
      io.err[0],
      'predict: Cannot parse --fit: expected stretch or crop, found "square"',
    );
    io = fakeIo();
    assert.equal(await main(["--help"], io), 0);
    assert.match(io.out[0]!, /^Usage: deno task predict/);
  });
});

Deno.test("deno task predict runs end to end: JSON on stdout, errors on stderr, exit 1", async () => {
  await withTempDir(async (dir) => {
    await saveRun(`${dir}/runs`, "20260101-000000-aaaaaa");
    await Deno.writeFile(`${dir}/a.png`, gradientImage(40, 40, "png"));
    await Deno.writeTextFile(`${dir}/b.png`, "not a picture");
    const script = new URL("../../scripts/predict.ts", import.meta.url).pathname;
    const run = async (...args: string[]) => {
      const output = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", script, ...args],
        env: { CIFAR10_OUT_DIR: `${dir}/runs`, CIFAR10_BACKEND: "cpu" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const decode = (b: Uint8Array) => new TextDecoder().decode(b);
      return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
    };
    const mixed = await run("--json", `${dir}/a.png`, `${dir}/b.png`);
    assert.equal(mixed.code, 1, mixed.stderr);
    const json = JSON.parse(mixed.stdout);
    assert.deepEqual(json.results.map((r: { ok: boolean }) => r.ok), [true, false]);
    assert.match(
      mixed.stderr,
      new RegExp(
        `predict: Cannot read image "${dir}/b\\.png": expected a PNG or JPEG image, found text starting "not a pictur…"`,
      ),
    );
    const good = await run(`${dir}/a.png`);
    assert.equal(good.code, 0, good.stderr);
    assert.match(good.stdout, /^Model: .*\nfile +size +fit +1st +2nd +3rd\n/);
    const bad = await run("--colour", "red", `${dir}/a.png`);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /predict: Cannot use flag --colour: unknown flag/);
  });
});

// ---------------------------------------------------------------------------------------------
// notebooks/your_images.ipynb, executed headless in the project's Deno kernel.

async function executeYourImages(runsDir: string, outDir: string) {
  const { ensureDenoKernel, executeNotebook, findJupyter, PROJECT_ROOT } = await import(
    "../../scripts/_jupyter.ts"
  );
  const kernel = await ensureDenoKernel(PROJECT_ROOT);
  const jupyter = await findJupyter();
  if (jupyter === null) throw new Error("Jupyter is not installed");
  const output = `${outDir}/your_images.ipynb`;
  const result = await executeNotebook(`${PROJECT_ROOT}/notebooks/your_images.ipynb`, output, {
    cwd: `${PROJECT_ROOT}/notebooks`,
    env: { ...kernel.env, CIFAR10_OUT_DIR: runsDir, CIFAR10_BACKEND: "cpu", NO_COLOR: "1" },
    python: jupyter.python,
    cellTimeoutS: 300,
  });
  const notebook = JSON.parse(await Deno.readTextFile(output)) as {
    cells: { id: string; outputs?: { output_type: string; data?: Record<string, unknown> }[] }[];
  };
  const outputs = new Map(notebook.cells.map((c) => [c.id, c.outputs ?? []]));
  const mimes = (id: string) => (outputs.get(id) ?? []).flatMap((o) => Object.keys(o.data ?? {}));
  const text = (id: string) =>
    (outputs.get(id) ?? []).map((o) => JSON.stringify(o.data ?? o)).join("\n");
  return { result, mimes, text };
}

const jupyterReady = await (async () => {
  try {
    const { findJupyter } = await import("../../scripts/_jupyter.ts");
    return (await findJupyter()) !== null;
  } catch {
    return false;
  }
})();
if (!jupyterReady) console.warn("SKIPPED your_images.ipynb tests: Jupyter is not installed");

Deno.test({
  name: skipName(
    "notebooks/your_images.ipynb classifies the samples with a run's model, headless",
    !jupyterReady,
    "no Jupyter with nbconvert (run ./run setup)",
  ),
  ignore: !jupyterReady,
  fn: async () => {
    await withTempDir(async (dir) => {
      await saveRun(`${dir}/runs`, "20260101-000000-abcdef");
      const { result, mimes, text } = await executeYourImages(`${dir}/runs`, dir);
      assert.equal(result.error, null, JSON.stringify(result.error));
      assert.ok(result.ok);
      // The stretch and crop charts are pictures; the table names the samples with top classes.
      assert.ok(mimes("your-images-09").includes("image/png"), "stretch chart");
      assert.ok(mimes("your-images-12").includes("image/png"), "crop chart");
      assert.match(text("your-images-10"), /ship-32x32/);
      assert.doesNotMatch(text("your-images-09"), /Skipped/);
      // A missing file and a non-image among good ones: the chart still comes out.
      assert.ok(mimes("your-images-14").includes("image/png"), "mixed-input chart");
    });
  },
});

Deno.test({
  name: skipName(
    "notebooks/your_images.ipynb without any trained run says how to train one",
    !jupyterReady,
    "no Jupyter with nbconvert (run ./run setup)",
  ),
  ignore: !jupyterReady,
  fn: async () => {
    await withTempDir(async (dir) => {
      const { result, text } = await executeYourImages(`${dir}/no-runs`, dir);
      assert.ok(result.ok, JSON.stringify(result.error));
      assert.match(text("your-images-03"), /deno task train/);
      assert.match(text("your-images-09"), /Skipped: no trained model/);
    });
  },
});
