import assert from "node:assert/strict";
import { DEFAULT_REFERENCE_RUN, readReferenceRun } from "../../lib/runs/reference.ts";
import { withTempDir } from "../_util.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

Deno.test("readReferenceRun() reads the committed PyTorch 2.14.1 run: curve, best epoch, test results", async () => {
  const run = await readReferenceRun(`${ROOT}${DEFAULT_REFERENCE_RUN}`);
  assert.equal(run.epochs.length, 15);
  assert.deepEqual(run.epochs.map((e) => e.epoch), Array.from({ length: 15 }, (_, i) => i + 1));
  assert.equal(run.bestEpoch, 14);
  assert.equal(run.bestValidLoss.toFixed(3), "0.753");
  assert.equal(run.testLoss!.toFixed(3), "0.703");
  assert.equal(run.testAccuracy, 0.7617);
  assert.equal(Object.keys(run.classAccuracy).length, 10);
  assert.equal(run.classAccuracy.cat, 0.535);
  assert.equal(run.synthetic, false);
  assert.match(run.implementation, /^PyTorch 2\.14\.1/);
  assert.equal(run.label, "PyTorch 2.14.1, the tutorial's code (15 epochs, test 76.2%)");
});

Deno.test("readReferenceRun() names the file and what it expected", async () => {
  await withTempDir(async (dir) => {
    await assert.rejects(() => readReferenceRun(`${dir}/none.json`), {
      name: "NotFound",
      message: `Cannot read reference run "${dir}/none.json": no such file`,
    });
    const write = async (name: string, text: string) => {
      await Deno.writeTextFile(`${dir}/${name}`, text);
      return `${dir}/${name}`;
    };
    await assert.rejects(() => write("a.json", "{oops").then(readReferenceRun), {
      name: "SyntaxError",
      message: new RegExp(`^Cannot read reference run "${dir}/a\\.json": not JSON`),
    });
    await assert.rejects(() => write("b.json", '{"mode": "bench"}').then(readReferenceRun), {
      name: "SyntaxError",
      message: `Cannot read reference run "${dir}/b.json": expected "mode": "train" with a list ` +
        'of epochs, as bench/pytorch_tutorial.py train prints, found mode "bench"',
    });
    const badEpoch = '{"mode": "train", "epochs": [{"epoch": 1, "trainLoss": 1.2}]}';
    await assert.rejects(() => write("c.json", badEpoch).then(readReferenceRun), {
      name: "SyntaxError",
      message: /expected epoch 1 to have numbers epoch, trainLoss and validLoss/,
    });
    const minimal =
      '{"mode": "train", "epochs": [{"epoch": 1, "trainLoss": 1.5, "validLoss": 1.2}]}';
    const run = await write("d.json", minimal).then(readReferenceRun);
    assert.equal(run.label, "PyTorch, the tutorial's code (1 epoch)");
    assert.deepEqual([run.testAccuracy, run.testLoss, run.wallSeconds], [null, null, null]);
  });
});
