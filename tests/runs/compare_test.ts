import assert from "node:assert/strict";
import { skipName, withTempDir } from "../_util.ts";
import { fileURLToPath } from "node:url";
import { listRuns, noRunsMessage, type RunEntry } from "../../lib/runs/list.ts";
import type { RunRecord } from "../../lib/runs/record.ts";
import {
  differingSettings,
  perClassComparison,
  perClassComparisonTable,
  pickRunsToCompare,
  runsTable,
  runsTableRows,
  sortRuns,
} from "../../lib/runs/compare.ts";
import { main as runsMain } from "../../scripts/runs.ts";
import { ensureDenoKernel, findJupyter } from "../../scripts/_jupyter.ts";
import { writeFixtureRun, writeFixtureRuns } from "./_fixtures.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

Deno.test("runsTableRows() shows the settings that differ and the results, synthetic runs marked", async () => {
  await withTempDir(async (outDir) => {
    await writeFixtureRuns(outDir);
    const runs = await listRuns(outDir);
    assert.deepEqual(differingSettings(runs.map((r) => r.record)), ["learningRate", "dropout"]);
    const rows = runsTableRows(runs, { sort: "test-accuracy" });
    const common = { status: "completed", backend: "wasm" };
    assert.deepEqual(rows, [
      {
        run: "20261128-120000-cccccc",
        ...common,
        data: "SYNTHETIC (not CIFAR-10)",
        learningRate: 0.001,
        dropout: 0.25,
        "epochs done": 1,
        "best epoch": 1,
        "best valid loss": 2.1,
        "test accuracy (%)": 92.5,
        duration: "5s",
      },
      {
        run: "20261128-110000-bbbbbb",
        ...common,
        data: "CIFAR-10",
        learningRate: 0.01,
        dropout: 0.5,
        "epochs done": 2,
        "best epoch": 2,
        "best valid loss": 1.1,
        "test accuracy (%)": 76.4,
        duration: "12m 05s",
      },
      {
        run: "20261128-100000-aaaaaa",
        ...common,
        data: "CIFAR-10",
        learningRate: 0.001,
        dropout: 0.25,
        "epochs done": 3,
        "best epoch": 2,
        "best valid loss": 1.2,
        "test accuracy (%)": 76.2,
        duration: "1h 02m",
      },
    ]);
    assert.deepEqual(Object.keys(rows[0]!), [
      "run",
      "status",
      "data",
      "backend",
      "learningRate",
      "dropout",
      "epochs done",
      "best epoch",
      "best valid loss",
      "test accuracy (%)",
      "duration",
    ]);
    // One run: nothing differs, so no settings columns.
    assert.deepEqual(Object.keys(runsTableRows(runs.slice(0, 1))[0]!), [
      "run",
      "status",
      "data",
      "backend",
      "epochs done",
      "best epoch",
      "best valid loss",
      "test accuracy (%)",
      "duration",
    ]);
  });
});

Deno.test("sortRuns() orders by each key, runs without the value last", async (t) => {
  await withTempDir(async (outDir) => {
    await writeFixtureRuns(outDir);
    await writeFixtureRun(outDir, {
      id: "20261128-130000-dddddd",
      startedAt: "2026-11-28T13:00:00.000Z",
      status: "interrupted",
      validLosses: [1.0],
      classCorrect: null,
      durationSeconds: 100,
    });
    const runs = await listRuns(outDir);
    const ids = (sorted: RunEntry[]) => sorted.map((r) => r.record.id.slice(-1)).join("");
    const cases: [string, Parameters<typeof sortRuns>[1], string][] = [
      ["started: newest first", { sort: "started" }, "dcba"],
      ["test accuracy: best first, untested last", { sort: "test-accuracy" }, "cbad"],
      [
        "test accuracy reversed: untested still last",
        { sort: "test-accuracy", reverse: true },
        "abcd",
      ],
      ["validation loss: lowest first", { sort: "valid-loss" }, "dbac"],
      ["duration: longest first", { sort: "duration" }, "abdc"],
      ["epochs: most first, ties in start order", { sort: "epochs" }, "abcd"],
      ["status", { sort: "status" }, "abcd"],
      ["run id", { sort: "run", reverse: true }, "dcba"],
    ];
    for (const [name, options, expected] of cases) {
      await t.step(name, () => assert.equal(ids(sortRuns(runs, options)), expected));
    }
    assert.throws(() => sortRuns(runs, { sort: "speed" as never }), {
      name: "RangeError",
      message: 'Cannot sort runs by "speed": expected one of started, test-accuracy, valid-loss, ' +
        "duration, epochs, status, run",
    });
  });
});

Deno.test("runsTable() is a polars DataFrame with one row per run, empty for no runs", async () => {
  await withTempDir(async (outDir) => {
    assert.equal(runsTable([]).height, 0);
    await writeFixtureRuns(outDir);
    const frame = runsTable(await listRuns(outDir), { sort: "valid-loss" });
    assert.equal(frame.height, 3);
    assert.deepEqual(frame.columns.slice(0, 6), [
      "run",
      "status",
      "data",
      "backend",
      "learningRate",
      "dropout",
    ]);
    assert.deepEqual(frame.getColumn("best valid loss").toArray(), [1.1, 1.2, 2.1]);
    assert.deepEqual(frame.getColumn("data").toArray(), [
      "CIFAR-10",
      "CIFAR-10",
      "SYNTHETIC (not CIFAR-10)",
    ]);
  });
});

Deno.test("perClassComparison() sets two runs side by side and refuses what cannot be compared", async () => {
  await withTempDir(async (outDir) => {
    await writeFixtureRuns(outDir);
    await writeFixtureRun(outDir, {
      id: "untested",
      startedAt: "2026-11-28T13:00:00.000Z",
      status: "interrupted",
      classCorrect: null,
    });
    const [a, b, synthetic, untested] = await listRuns(outDir) as [
      RunEntry,
      RunEntry,
      RunEntry,
      RunEntry,
    ];
    const rows = perClassComparison(a, b);
    assert.equal(rows.length, 10);
    assert.deepEqual(rows[0], { className: "airplane", first: 84, second: 80, difference: -4 });
    assert.deepEqual(rows[2], { className: "bird", first: 61, second: 65, difference: 4 });
    const frame = perClassComparisonTable(a, b);
    assert.deepEqual(frame.columns, [
      "class",
      "20261128-100000-aaaaaa (%)",
      "20261128-110000-bbbbbb (%)",
      "difference (points)",
    ]);
    assert.deepEqual(frame.getColumn("difference (points)").toArray().slice(0, 4), [-4, 2, 4, -3]);
    assert.throws(() => perClassComparison(a, untested), {
      name: "TypeError",
      message:
        'Cannot compare per-class accuracy: run "untested" has no test report (status interrupted)',
    });
    assert.throws(() => perClassComparison(a, synthetic), (error: Error) => {
      assert.equal(error.name, "TypeError");
      assert.ok(error.message.startsWith(
        'Cannot compare per-class accuracy of runs "20261128-100000-aaaaaa" and ' +
          '"20261128-120000-cccccc": they have different classes (airplane, ',
      ));
      return true;
    });
    // The pair to compare: named ones, else the most accurate.
    // The most accurate run is synthetic and has no partner: the two best CIFAR-10 runs.
    assert.deepEqual(pickRunsToCompare([a, b, synthetic, untested]).map((r) => r.record.id), [
      "20261128-110000-bbbbbb",
      "20261128-100000-aaaaaa",
    ]);
    assert.deepEqual(pickRunsToCompare([synthetic, untested]).map((r) => r.record.id), [
      "20261128-120000-cccccc",
    ]);
    assert.deepEqual(
      pickRunsToCompare([a, b, untested], [a.dir]).map((r) => r.record.id),
      ["20261128-100000-aaaaaa", "20261128-110000-bbbbbb"],
    );
    assert.deepEqual(pickRunsToCompare([untested]), []);
    assert.throws(() => pickRunsToCompare([a, untested], ["untested"]), {
      name: "RangeError",
      message: 'Cannot compare run "untested": it has no test report (status interrupted)',
    });
    assert.throws(() => pickRunsToCompare([a], ["nope"]), {
      name: "RangeError",
      message: 'Cannot compare run "nope": no such run (runs: 20261128-100000-aaaaaa)',
    });
  });
});

Deno.test("deno task runs prints the table, the comparison and the chart; no runs gives the hint", async () => {
  await withTempDir(async (outDir) => {
    const io = () => {
      const out: string[] = [], err: string[] = [];
      return {
        out,
        err,
        io: { print: (l: string) => out.push(l), printError: (l: string) => err.push(l), env: {} },
      };
    };
    const empty = io();
    assert.equal(await runsMain(["--dir", outDir], empty.io), 0);
    assert.deepEqual(empty.out, [noRunsMessage(outDir)]);

    await writeFixtureRuns(outDir);
    const full = io();
    const svg = `${outDir}/chart.svg`;
    assert.equal(
      await runsMain(
        ["--dir", outDir, "--sort", "valid-loss", "--compare", "best", "--svg", svg],
        full.io,
      ),
      0,
    );
    const text = full.out.join("\n");
    const lines = text.split("\n");
    assert.equal(lines[0], `3 runs under ${outDir} (sorted by valid-loss)`);
    assert.match(
      lines[1]!,
      /^run\s+status\s+data\s+backend\s+learningRate\s+dropout\s+epochs done/,
    );
    assert.ok(lines[3]!.startsWith("20261128-110000-bbbbbb  completed  CIFAR-10 "), lines[3]);
    assert.ok(lines[5]!.includes("SYNTHETIC (not CIFAR-10)"), lines[5]);
    assert.match(text, /Runs marked SYNTHETIC trained on generated shapes, not CIFAR-10\./);
    assert.match(
      text,
      /\nTest accuracy per class\nclass\s+20261128-110000-bbbbbb \(%\)\s+20261128-100000-aaaaaa \(%\)/,
    );
    assert.match(await Deno.readTextFile(svg), /^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);

    const compared = io();
    assert.equal(
      await runsMain([
        "--dir",
        outDir,
        "--compare",
        "20261128-100000-aaaaaa,20261128-110000-bbbbbb",
      ], compared.io),
      0,
    );
    const table = compared.out.join("\n").split("Test accuracy per class\n")[1]!.split("\n");
    assert.match(
      table[0]!,
      /^class\s+20261128-100000-aaaaaa \(%\)\s+20261128-110000-bbbbbb \(%\)\s+difference \(points\)$/,
    );
    assert.match(table[2]!, /^airplane\s+84\s+80\s+-4$/);

    const json = io();
    assert.equal(await runsMain(["--dir", outDir, "--json"], json.io), 0);
    const records = JSON.parse(json.out.join("\n")) as { dir: string; record: RunRecord }[];
    assert.deepEqual(records.map((r) => r.record.id), [
      "20261128-100000-aaaaaa",
      "20261128-110000-bbbbbb",
      "20261128-120000-cccccc",
    ]);

    for (
      const [args, message] of [
        [
          ["--sort", "speed"],
          'runs: Cannot parse --sort: expected one of started, test-accuracy, valid-loss, duration, epochs, status, run, found "speed"',
        ],
        [
          ["--epochs", "3"],
          "runs: Cannot use flag --epochs: unknown flag; allowed flags: --compare, --dir, --help, --json, --reverse, --sort, --svg",
        ],
        [
          ["--compare", "one"],
          'runs: Cannot parse --compare: expected two run ids separated by a comma, or best, found "one"',
        ],
        [["--dir"], "runs: Cannot parse --dir: expected a value after it, found nothing"],
      ] as [string[], string][]
    ) {
      const bad = io();
      assert.equal(await runsMain(args, bad.io), 2, args.join(" "));
      assert.equal(bad.err[0], message);
      assert.deepEqual(bad.out, []);
    }
  });
});

/** Whether Jupyter and the project's Deno kernel are installed (`./run setup`). */
/** The project's pinned Jupyter (`./run setup`) and its Deno kernel, or null without them. */
const jupyter = await findJupyter();
const kernel = jupyter === null ? null : await ensureDenoKernel(ROOT);

Deno.test({
  name: skipName(
    "notebooks/compare_runs.ipynb executes headless with zero and with several runs",
    jupyter === null,
    "no Jupyter with nbconvert (run ./run setup)",
  ),
  ignore: jupyter === null,
  fn: async (t) => {
    await withTempDir(async (tmp) => {
      const execute = async (runsDir: string) => {
        const output = `${tmp}/executed.ipynb`;
        const result = await new Deno.Command(jupyter!.jupyter, {
          args: [
            "nbconvert",
            "--to",
            "notebook",
            "--execute",
            "--ExecutePreprocessor.kernel_name=deno",
            "--ExecutePreprocessor.timeout=120",
            `${ROOT}/notebooks/compare_runs.ipynb`,
            "--output",
            output,
          ],
          env: { ...kernel!.env, CIFAR10_RUNS_DIR: runsDir, NO_COLOR: "1" },
          stdout: "piped",
          stderr: "piped",
        }).output();
        assert.ok(result.success, new TextDecoder().decode(result.stderr));
        const notebook = JSON.parse(await Deno.readTextFile(output));
        const outputs: Record<string, { data?: Record<string, unknown>; output_type: string }[]> =
          {};
        for (const cell of notebook.cells) outputs[cell.id] = cell.outputs ?? [];
        const text = (id: string) =>
          (outputs[id] ?? []).map((o) => [o.data?.["text/plain"] ?? ""].flat().join("")).join("\n");
        return { outputs, text };
      };
      await t.step("zero runs: the hint in every section", async () => {
        const { text } = await execute(`${tmp}/empty-runs`);
        for (const id of ["table", "curves", "classes"]) {
          assert.equal(text(id), noRunsMessage(`${tmp}/empty-runs`), id);
        }
      });
      await t.step("three runs: the table, the chart and the comparison", async () => {
        await writeFixtureRuns(`${tmp}/runs`);
        const { outputs, text } = await execute(`${tmp}/runs`);
        assert.match(text("table"), /^3 runs under .*, sorted by test-accuracy/);
        assert.match(text("table"), /SYNTHETIC \(not CIFAR-10\)/);
        // nbformat stores a multi-line output as a list of lines.
        const curves = outputs.curves!.filter((o) => o.data?.["image/svg+xml"] !== undefined)
          .map((o) => [o.data!["image/svg+xml"]].flat().join(""));
        assert.equal(curves.length, 1);
        // Three runs and the committed PyTorch reference, dotted.
        const svg = String(curves[0]);
        assert.equal(svg.match(/aria-label="line"/g)?.length, 4, "3 runs + the reference");
        assert.match(svg, /PyTorch 2\.14\.1, the tutorial's code \(15 epochs, test 76\.2%\)/);
        assert.ok(
          outputs.classes!.filter((o) => o.data?.["image/svg+xml"] !== undefined).length === 1,
          "the per-class chart",
        );
        assert.match(
          text("classes"),
          /Test accuracy per class \(%\): 20261128-110000-bbbbbb vs 20261128-100000-aaaaaa/,
        );
      });
    });
  },
});
