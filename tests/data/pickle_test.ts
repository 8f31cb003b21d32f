import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { skipName, withTempDir } from "../_util.ts";
import { CIFAR10_CLASSES, IMAGE_BYTES } from "../../lib/data/format.ts";
import {
  PickleArray,
  PickleBytes,
  PickleDict,
  PickleList,
  readPickle,
} from "../../lib/data/pickle.ts";
import {
  parseCifar10PythonBatch,
  parseCifar10PythonMeta,
  readCifar10PythonFolder,
} from "../../lib/data/python_format.ts";
import { readCifar10Folder } from "../../lib/data/format.ts";
import {
  makeTinyPythonFolder,
  PickleBuilder,
  TINY,
  writePythonBatch,
  writePythonMeta,
} from "./_fixtures.ts";

/** A batch of `count` images with a recognisable pattern, and its labels. */
function batchInput(count: number, labels?: number[]) {
  const planes = new Uint8Array(count * IMAGE_BYTES);
  for (let i = 0; i < planes.length; i++) planes[i] = (i * 7 + (i >> 10)) & 0xff;
  return {
    planes,
    labels: labels ?? Array.from({ length: count }, (_, i) => i % 10),
    batchLabel: "training batch 1 of 5",
  };
}

/** Asserts that reading `bytes` throws a SyntaxError or RangeError naming the file and matching. */
function assertRefused(bytes: Uint8Array, message: RegExp, name = "hostile.pickle"): void {
  assert.throws(() => parseCifar10PythonBatch(bytes, { name, records: null }), (error: Error) => {
    assert.ok(error instanceof SyntaxError || error instanceof RangeError, String(error));
    assert.ok(error.message.includes(`"${name}"`), error.message);
    assert.match(error.message, message);
    return true;
  });
}

// ---------------------------------------------------------------------------------------------
// Reading what the format holds.

Deno.test("readPickle() reads a batch file as cPickle writes it: keys, data array, labels, names", () => {
  const input = batchInput(3, [4, 0, 9]);
  const value = readPickle(writePythonBatch(input), "data_batch_1");
  assert.ok(value instanceof PickleDict);
  assert.deepEqual([...value.entries.keys()], ["batch_label", "labels", "data", "filenames"]);
  const data = value.entries.get("data");
  assert.ok(data instanceof PickleArray);
  assert.deepEqual(data.shape, [3, IMAGE_BYTES]);
  assert.equal(data.fortran, false);
  assert.deepEqual(data.data, input.planes);
  const labels = value.entries.get("labels");
  assert.ok(labels instanceof PickleList);
  assert.deepEqual(labels.items, [4, 0, 9]);
  const batchLabel = value.entries.get("batch_label");
  assert.ok(batchLabel instanceof PickleBytes);
  assert.equal(batchLabel.text(), "training batch 1 of 5");
  const filenames = value.entries.get("filenames") as PickleList;
  assert.deepEqual(filenames.items.map((f) => (f as PickleBytes).text()), [
    "image_0.png",
    "image_1.png",
    "image_2.png",
  ]);
});

Deno.test("parseCifar10PythonBatch() converts the rows' R, G, B planes to NHWC", () => {
  const input = batchInput(2, [3, 7]);
  // Image 1, pixel (y=1, x=2): red 11, green 22, blue 33.
  const pixel = 1 * 32 + 2;
  input.planes.fill(0, IMAGE_BYTES);
  input.planes[IMAGE_BYTES + pixel] = 11;
  input.planes[IMAGE_BYTES + 1024 + pixel] = 22;
  input.planes[IMAGE_BYTES + 2048 + pixel] = 33;
  const set = parseCifar10PythonBatch(writePythonBatch(input), { records: 2 });
  assert.equal(set.count, 2);
  assert.deepEqual([...set.labels], [3, 7]);
  const image1 = set.images.subarray(IMAGE_BYTES);
  assert.deepEqual([...image1.subarray(pixel * 3, pixel * 3 + 3)], [11, 22, 33]);
  assert.equal(image1.reduce((a, b) => a + b, 0), 66);
  // The default count is the official 10,000.
  assert.throws(() => parseCifar10PythonBatch(writePythonBatch(input), { name: "b" }), {
    name: "RangeError",
    message: 'Cannot read CIFAR-10 batch "b": expected 10000 images (data of shape ' +
      "(10000, 3072)), found 2",
  });
});

Deno.test("a full-size batch (10,000 × 3,072, LONG_BINPUT memo indices) parses in well under a second", () => {
  const input = batchInput(10000);
  const bytes = writePythonBatch(input);
  const started = performance.now();
  const set = parseCifar10PythonBatch(bytes, { name: "data_batch_1" });
  const ms = performance.now() - started;
  assert.equal(set.count, 10000);
  assert.deepEqual([...set.labels.subarray(0, 12)], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
  assert.ok(ms < 1000, `${ms} ms`);
});

Deno.test("parseCifar10PythonMeta() reads label_names", () => {
  assert.deepEqual(parseCifar10PythonMeta(writePythonMeta(CIFAR10_CLASSES)), [...CIFAR10_CLASSES]);
  assert.throws(() => parseCifar10PythonMeta(writePythonMeta(["a", "b"]), "m"), {
    name: "RangeError",
    message: 'Cannot read class names "m": expected 10 names, found 2',
  });
  assert.throws(() => parseCifar10PythonMeta(writePythonBatch(batchInput(1)), "m"), {
    name: "SyntaxError",
    message: 'Cannot read class names "m": expected a dict with a "label_names" list, found the ' +
      'keys "batch_label", "labels", "data", "filenames"',
  });
});

Deno.test("readCifar10PythonFolder() reads the same images as the binary folder they came from", async () => {
  await withTempDir(async (dir) => {
    const { folder, binary } = await makeTinyPythonFolder(dir);
    const python = await readCifar10PythonFolder(folder, { recordsPerFile: TINY });
    const expected = await readCifar10Folder(binary, { recordsPerFile: TINY });
    assert.deepEqual(python.train, expected.train);
    assert.deepEqual(python.test, expected.test);
    assert.deepEqual(python.classNames, expected.classNames);
    assert.equal(python.synthetic, false);
    await Deno.remove(join(folder, "data_batch_3"));
    await assert.rejects(() => readCifar10PythonFolder(folder, { recordsPerFile: TINY }), {
      name: "Error",
      message:
        `Cannot find CIFAR-10 batch "data_batch_3" in "${folder}" (missing: data_batch_3): ` +
        "the folder is incomplete; delete it and extract cifar-10-python.tar.gz again, or pass " +
        "--data with a complete copy",
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Refusing everything else: never running anything, never hanging, always naming the file.

Deno.test("readPickle() refuses every global but the four the format uses, naming it", async (t) => {
  const cases: [string, string, string][] = [
    ["os.system", "os", "system"],
    ["posix.system", "posix", "system"],
    ["builtins.eval", "builtins", "eval"],
    ["__builtin__.eval (Python 2)", "__builtin__", "eval"],
    ["another numpy function", "numpy", "load"],
    ["numpy scalars", "numpy.core.multiarray", "scalar"],
    ["a lookalike module", "numpy.core.multiarray.evil", "_reconstruct"],
  ];
  for (const [what, module, name] of cases) {
    await t.step(what, () => {
      const bytes = new PickleBuilder().proto().global(module, name).str("echo pwned")
        .raw(0x85, 0x52, 0x2e).bytes();
      assertRefused(
        bytes,
        new RegExp(
          `^Cannot read pickle "hostile\\.pickle": global "${module}\\.${name}" \\(GLOBAL at ` +
            `byte 2\\) is not allowed: only numpy\\.core\\.multiarray\\._reconstruct, ` +
            `numpy\\._core\\.multiarray\\._reconstruct, numpy\\.ndarray, numpy\\.dtype, ` +
            `_codecs\\.encode can appear in the CIFAR-10 Python version, and none is ever called$`,
        ),
      );
    });
  }
});

Deno.test("readPickle() refuses the allowed names used in any other way", async (t) => {
  const cases: [string, Uint8Array, RegExp][] = [
    [
      "REDUCE on numpy.ndarray",
      new PickleBuilder().proto().global("numpy", "ndarray").int(5).raw(0x85, 0x52, 0x2e).bytes(),
      /REDUCE \(0x52\) at byte 20 calls numpy\.ndarray: only numpy\.core\.multiarray\._reconstruct, numpy\.dtype and _codecs\.encode can be reduced$/,
    ],
    [
      "REDUCE on a string",
      new PickleBuilder().proto().str("os.system").int(5).raw(0x85, 0x52, 0x2e).bytes(),
      /REDUCE \(0x52\) at byte 16 calls a str "os\.system", expected an allowed global$/,
    ],
    [
      "_reconstruct of another class",
      new PickleBuilder().proto().global("numpy.core.multiarray", "_reconstruct")
        .global("numpy", "dtype").int(0).raw(0x85).str("b").raw(0x87, 0x52, 0x2e).bytes(),
      /calls numpy\.core\.multiarray\._reconstruct with \(numpy\.dtype, tuple of 1, str "b"\), expected \(numpy\.ndarray, \(0,\), 'b'\)$/,
    ],
    [
      "dtype float64",
      new PickleBuilder().proto().global("numpy", "dtype").str("f8").int(0).int(1)
        .raw(0x87, 0x52, 0x2e).bytes(),
      /calls numpy\.dtype with \(str "f8", int 0, int 1\), expected 'u1' \(uint8\): the CIFAR-10 images are bytes$/,
    ],
    [
      "_codecs.encode with another encoding",
      new PickleBuilder().proto().global("_codecs", "encode").str("x").str("rot13")
        .raw(0x86, 0x52, 0x2e).bytes(),
      /calls _codecs\.encode with \(str "x", str "rot13"\), expected \(str, 'latin1'\)$/,
    ],
    [
      "BUILD on a dict (setting attributes)",
      new PickleBuilder().proto().raw(0x7d).raw(0x7d, 0x62, 0x2e).bytes(),
      /BUILD \(0x62\) at byte 4 sets the state of a dict of 0: only numpy arrays and dtypes take state$/,
    ],
    [
      "BUILD with a structured dtype",
      new PickleBuilder().proto().global("numpy", "dtype").str("u1").int(0).int(1).raw(0x87, 0x52)
        .mark().int(3).str("|").raw(0x4e).str("names").raw(0x4e).int(-1).int(-1).int(0)
        .raw(0x74, 0x62, 0x2e).bytes(),
      /gives dtype "u1" the state \(int 3, str "\|", None, str "names", None, int -1, int -1, int 0\), expected \(3, '\|', None, None, None, -1, -1, 0\)$/,
    ],
  ];
  for (const [what, bytes, message] of cases) {
    await t.step(what, () => assertRefused(bytes, message));
  }
});

Deno.test("readPickle() refuses opcodes the format does not use, by name and offset", async (t) => {
  const cases: [string, Uint8Array, RegExp][] = [
    [
      "INST (protocol 0 call)",
      new PickleBuilder().proto().mark().raw(0x69, ...new TextEncoder().encode("os\nsystem\n"))
        .bytes(),
      /^Cannot read pickle "hostile\.pickle": INST \(0x69\) at byte 3 is not an opcode the CIFAR-10 Python version uses$/,
    ],
    [
      "STACK_GLOBAL",
      new PickleBuilder().proto().str("os").str("system").raw(0x93, 0x2e).bytes(),
      /STACK_GLOBAL \(0x93\) at byte 14 is not an opcode/,
    ],
    [
      "EMPTY_TUPLE (what NEWOBJ would call with)",
      new PickleBuilder().proto().global("numpy", "ndarray").raw(0x29, 0x81, 0x2e).bytes(),
      /EMPTY_TUPLE \(0x29\) at byte 17 is not an opcode/,
    ],
    ["PERSID", new PickleBuilder().proto().raw(0x50, 0x31, 0x0a, 0x2e).bytes(), /PERSID \(0x50\)/],
    ["EXT1", new PickleBuilder().proto().raw(0x82, 1, 0x2e).bytes(), /EXT1 \(0x82\) at byte 2/],
    [
      "an unknown byte",
      new PickleBuilder().proto().raw(0xff).bytes(),
      /unknown opcode 0xff at byte 2/,
    ],
    [
      "protocol 4 (FRAME)",
      new PickleBuilder().proto(4).raw(0x95, 1, 0, 0, 0, 0, 0, 0, 0, 0x4e, 0x2e).bytes(),
      /expected pickle protocol 2 \(bytes 0x80 0x02, as in the CIFAR-10 Python version\), found 0x80 0x4$/,
    ],
    [
      "not a pickle",
      new TextEncoder().encode("<html>Not found</html>"),
      /expected pickle protocol 2 .*found 0x3c 0x68$/,
    ],
    ["an empty file", new Uint8Array(0), /expected pickle protocol 2 .*found 0 bytes$/],
  ];
  for (const [what, bytes, message] of cases) {
    await t.step(what, () => assertRefused(bytes, message));
  }
});

Deno.test("readPickle() refuses a broken stack machine: memo, marks, stack, STOP", async (t) => {
  const p = () => new PickleBuilder().proto();
  const cases: [string, Uint8Array, RegExp][] = [
    [
      "BINGET of an unset memo",
      p().raw(0x68, 7, 0x2e).bytes(),
      /BINGET \(0x68\) at byte 2 refers to memo 7, which was never set$/,
    ],
    [
      "APPEND on an empty stack",
      p().raw(0x61).bytes(),
      /APPEND \(0x61\) at byte 2 found nothing on the stack to take$/,
    ],
    [
      "APPEND to a dict",
      p().raw(0x7d).int(1).raw(0x61).bytes(),
      /APPEND \(0x61\) at byte 5 appends to a dict of 0, expected a list$/,
    ],
    [
      "APPENDS without MARK",
      p().raw(0x5d).raw(0x65).bytes(),
      /APPENDS \(0x65\) at byte 3 found no MARK before it$/,
    ],
    [
      "a non-str key",
      p().raw(0x7d).int(1).int(2).raw(0x73, 0x2e).bytes(),
      /SETITEM \(0x73\) at byte 7 has a key of type int 1, expected str$/,
    ],
    [
      "two values at STOP",
      p().raw(0x4e, 0x4e, 0x2e).bytes(),
      /STOP \(0x2e\) at byte 4 found 2 values, expected 1$/,
    ],
    [
      "a MARK left open",
      p().raw(0x28, 0x4e, 0x2e).bytes(),
      /STOP \(0x2e\) at byte 4 found a MARK left open$/,
    ],
    [
      "bytes after STOP",
      p().raw(0x4e, 0x2e, 0, 0).bytes(),
      /2 bytes follow STOP \(0x2e\) at byte 3, expected the file to end there$/,
    ],
    ["no STOP", p().raw(0x4e).bytes(), /it is truncated: no STOP opcode in its 3 bytes$/],
    [
      "a BINSTRING claiming 2 GB",
      p().raw(0x54, 0xff, 0xff, 0xff, 0x7f).bytes(),
      /it is truncated: BINSTRING \(0x54\) at byte 2 needs 2147483647 more bytes, found 0$/,
    ],
    [
      "a negative BINSTRING length",
      p().raw(0x54, 0xff, 0xff, 0xff, 0xff).bytes(),
      /BINSTRING \(0x54\) at byte 2 has a negative length \(-1\)$/,
    ],
    [
      "a GLOBAL without end of line",
      p().raw(0x63, 0x6f, 0x73).bytes(),
      /GLOBAL \(0x63\) at byte 2: its name has no end of line$/,
    ],
  ];
  for (const [what, bytes, message] of cases) {
    await t.step(what, () => assertRefused(bytes, message));
  }
});

Deno.test("a batch cut short at any byte is refused as truncated or broken, naming the file", () => {
  const bytes = writePythonBatch(batchInput(2));
  const started = performance.now();
  for (let end = 0; end < bytes.length; end++) {
    assert.throws(
      () => parseCifar10PythonBatch(bytes.subarray(0, end), { name: "cut", records: null }),
      (error: Error) => {
        assert.equal(error.name, "SyntaxError", `cut at ${end}: ${error.message}`);
        assert.match(error.message, /^Cannot read pickle "cut": /, `cut at ${end}`);
        return true;
      },
    );
  }
  assert.ok(performance.now() - started < 5000, "truncation checks took too long");
});

Deno.test("parseCifar10PythonBatch() refuses wrong shapes, orders, dtypes and labels", async (t) => {
  const cases: [string, Uint8Array, string, RegExp][] = [
    [
      "rows of 3,000 bytes",
      writePythonBatch({ ...batchInput(2), planes: new Uint8Array(6000), shape: [2, 3000] }),
      "SyntaxError",
      /^Cannot read CIFAR-10 batch "hostile\.pickle": expected "data" of shape \(N, 3072\), found \(2, 3000\)$/,
    ],
    [
      "a flat array",
      writePythonBatch({ ...batchInput(2), shape: [6144] }),
      "SyntaxError",
      /expected "data" of shape \(N, 3072\), found \(6144\)$/,
    ],
    [
      "a shape that does not match the bytes",
      writePythonBatch({ ...batchInput(2), shape: [3, 3072] }),
      "SyntaxError",
      /^Cannot read pickle "hostile\.pickle": BUILD \(0x62\) at byte \d+ gives an array of shape \(3, 3072\) 6144 bytes, expected 9216$/,
    ],
    [
      "Fortran order",
      writePythonBatch({ ...batchInput(2), fortran: true }),
      "SyntaxError",
      /expected "data" in C \(row-major\) order, found Fortran order$/,
    ],
    [
      "dtype int8",
      writePythonBatch({ ...batchInput(2), dtype: "i1" }),
      "SyntaxError",
      /calls numpy\.dtype with \(str "i1", int 0, int 1\), expected 'u1' \(uint8\)/,
    ],
    [
      "label 10",
      writePythonBatch(batchInput(3, [1, 10, 2])),
      "RangeError",
      /^Cannot read CIFAR-10 batch "hostile\.pickle": image 1 has label 10, expected 0–9$/,
    ],
    [
      "label -1",
      writePythonBatch(batchInput(2, [-1, 2])),
      "RangeError",
      /image 0 has label -1, expected 0–9$/,
    ],
    [
      "fewer labels than images",
      writePythonBatch({ ...batchInput(2, [1]), shape: [2, 3072] }),
      "RangeError",
      /expected 2 labels \(one per image\), found 1$/,
    ],
    [
      "CIFAR-100's keys",
      new PickleBuilder().proto().raw(0x7d).mark().str("fine_labels").raw(0x5d).raw(0x75, 0x2e)
        .bytes(),
      "SyntaxError",
      /expected the keys "data" and "labels", found "fine_labels"$/,
    ],
    [
      "a list instead of a dict",
      new PickleBuilder().proto().raw(0x5d, 0x2e).bytes(),
      "SyntaxError",
      /expected a dict with "data" and "labels", found a list of 0$/,
    ],
  ];
  for (const [what, bytes, name, message] of cases) {
    await t.step(what, () => {
      assert.throws(
        () => parseCifar10PythonBatch(bytes, { name: "hostile.pickle", records: null }),
        {
          name,
          message,
        },
      );
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Against Python itself: the fixture reads as torchvision reads the real files, and files that
// Python writes read here.

/** An interpreter with numpy, or null. */
async function findNumpyPython(): Promise<string | null> {
  for (const python of ["/usr/bin/python3", "python3"]) {
    try {
      const out = await new Deno.Command(python, {
        args: ["-c", "import numpy"],
        stdout: "null",
        stderr: "null",
      }).output();
      if (out.success) return python;
    } catch {
      // Not installed: try the next.
    }
  }
  return null;
}

const PYTHON = await findNumpyPython();
const NO_NUMPY = "no Python with numpy (sudo apt-get install python3-numpy)";

async function runPython(script: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(PYTHON!, {
    args: ["-c", script, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  assert.ok(out.success, decode(out.stderr));
  return decode(out.stdout);
}

/**
 * Reads a cifar-10-batches-py/ folder as torchvision does: `pickle.load(f, encoding="latin1")`,
 * `entry["data"]` reshaped to (-1, 3, 32, 32) and transposed to NHWC, `entry["labels"]`; through
 * torchvision's own CIFAR10 class where it is installed (its md5 check skipped: the fixture is
 * not the official files).
 */
const TORCHVISION_READ = `
import hashlib, json, os, pickle, sys
import numpy as np
folder = sys.argv[1]
out = {"files": {}}
for name in ["data_batch_%d" % i for i in range(1, 6)] + ["test_batch"]:
    with open(os.path.join(folder, name), "rb") as f:
        entry = pickle.load(f, encoding="latin1")
    with open(os.path.join(folder, name), "rb") as f:
        raw_keys = list(pickle.load(f, encoding="bytes").keys())
    data = entry["data"]
    nhwc = np.ascontiguousarray(data.reshape(-1, 3, 32, 32).transpose((0, 2, 3, 1)))
    out["files"][name] = {
        "keys": list(entry.keys()),
        "bytesKeys": [type(k).__name__ for k in raw_keys],
        "shape": list(data.shape),
        "dtype": str(data.dtype),
        "cOrder": bool(data.flags["C_CONTIGUOUS"]),
        "labels": entry["labels"],
        "labelsType": type(entry["labels"]).__name__,
        "batchLabel": entry["batch_label"],
        "nhwcMd5": hashlib.md5(nhwc.tobytes()).hexdigest(),
    }
with open(os.path.join(folder, "batches.meta"), "rb") as f:
    out["labelNames"] = pickle.load(f, encoding="latin1")["label_names"]
try:
    from torchvision.datasets import CIFAR10
    class Unchecked(CIFAR10):
        def _check_integrity(self):
            return True
    root = os.path.dirname(folder)
    train, test = Unchecked(root, train=True), Unchecked(root, train=False)
    out["torchvision"] = {
        "trainMd5": hashlib.md5(np.ascontiguousarray(train.data).tobytes()).hexdigest(),
        "trainTargets": list(train.targets),
        "testMd5": hashlib.md5(np.ascontiguousarray(test.data).tobytes()).hexdigest(),
        "classes": list(train.classes),
    }
except ImportError:
    out["torchvision"] = None
print(json.dumps(out))
`;

function md5Hex(bytes: Uint8Array): string {
  return createHash("md5").update(bytes).digest("hex");
}

Deno.test({
  name: skipName(
    "the Python-version fixture reads in Python as torchvision reads the real files",
    PYTHON === null,
    NO_NUMPY,
  ),
  ignore: PYTHON === null,
  async fn() {
    await withTempDir(async (dir) => {
      const { folder } = await makeTinyPythonFolder(dir);
      const ours = await readCifar10PythonFolder(folder, { recordsPerFile: TINY });
      const found = JSON.parse(await runPython(TORCHVISION_READ, [folder]));
      const names = [
        "data_batch_1",
        "data_batch_2",
        "data_batch_3",
        "data_batch_4",
        "data_batch_5",
      ];
      for (const [i, name] of [...names, "test_batch"].entries()) {
        const file = found.files[name];
        // Python 2 str keys: bytes under encoding="bytes", as in the real files.
        assert.deepEqual(file.keys, ["batch_label", "labels", "data", "filenames"]);
        assert.deepEqual(file.bytesKeys, ["bytes", "bytes", "bytes", "bytes"]);
        assert.deepEqual(file.shape, [TINY, 3072]);
        assert.equal(file.dtype, "uint8");
        assert.equal(file.cOrder, true);
        assert.equal(file.labelsType, "list");
        assert.equal(
          file.batchLabel,
          i < 5 ? `training batch ${i + 1} of 5` : "testing batch 1 of 1",
        );
        const set = i < 5 ? ours.train : ours.test;
        const first = i < 5 ? i * TINY : 0;
        assert.deepEqual(file.labels, [...set.labels.subarray(first, first + TINY)]);
        assert.equal(
          file.nhwcMd5,
          md5Hex(set.images.subarray(first * IMAGE_BYTES, (first + TINY) * IMAGE_BYTES)),
        );
      }
      assert.deepEqual(found.labelNames, [...CIFAR10_CLASSES]);
      if (found.torchvision !== null) {
        assert.equal(found.torchvision.trainMd5, md5Hex(ours.train.images));
        assert.deepEqual(found.torchvision.trainTargets, [...ours.train.labels]);
        assert.equal(found.torchvision.testMd5, md5Hex(ours.test.images));
        assert.deepEqual(found.torchvision.classes, [...CIFAR10_CLASSES]);
      }
    });
  },
});

/** Rewrites a cifar-10-batches-py/ folder with Python 3's pickle at protocol 2, str or bytes keys. */
const PYTHON_REWRITE = `
import os, pickle, pickletools, sys
source, target, keys = sys.argv[1], sys.argv[2], sys.argv[3]
os.makedirs(target)
opcodes = set()
for name in os.listdir(source):
    if name.endswith(".html"):
        continue
    with open(os.path.join(source, name), "rb") as f:
        entry = pickle.load(f, encoding="latin1")
    if keys == "bytes":
        entry = {k.encode(): v for k, v in entry.items()}
    data = pickle.dumps(entry, protocol=2)
    opcodes.update(op.name for op, _, _ in pickletools.genops(data))
    with open(os.path.join(target, name), "wb") as f:
        f.write(data)
print(" ".join(sorted(opcodes)))
`;

Deno.test({
  name: skipName(
    "files that Python 3 writes with pickle protocol 2 (str or bytes keys) read the same",
    PYTHON === null,
    NO_NUMPY,
  ),
  ignore: PYTHON === null,
  async fn() {
    await withTempDir(async (dir) => {
      const { folder } = await makeTinyPythonFolder(dir);
      const expected = await readCifar10PythonFolder(folder, { recordsPerFile: TINY });
      for (const keys of ["str", "bytes"]) {
        const target = join(dir, `py3-${keys}`, "cifar-10-batches-py");
        const opcodes = (await runPython(PYTHON_REWRITE, [folder, target, keys])).trim().split(" ");
        // Python 3 writes str as BINUNICODE and bytes through _codecs.encode (GLOBAL + REDUCE).
        assert.ok(opcodes.includes("BINUNICODE"), opcodes.join());
        assert.ok(!opcodes.includes("SHORT_BINSTRING"), opcodes.join());
        const read = await readCifar10PythonFolder(target, { recordsPerFile: TINY });
        assert.deepEqual(read.train, expected.train);
        assert.deepEqual(read.test, expected.test);
        assert.deepEqual(read.classNames, expected.classNames);
      }
    });
  },
});

Deno.test({
  name: skipName(
    "a pickle that Python writes to run os.system is refused without running it",
    PYTHON === null,
    NO_NUMPY,
  ),
  ignore: PYTHON === null,
  async fn() {
    await withTempDir(async (dir) => {
      const proof = join(dir, "ran");
      const file = join(dir, "data_batch_1");
      await runPython(
        `
import os, pickle, sys
class Evil:
    def __reduce__(self):
        return (os.system, ("touch " + sys.argv[2],))
with open(sys.argv[1], "wb") as f:
    pickle.dump({"data": Evil(), "labels": []}, f, protocol=2)
`,
        [file, proof],
      );
      assert.throws(
        () => parseCifar10PythonBatch(Deno.readFileSync(file), { name: file }),
        (error: Error) => {
          assert.equal(error.name, "SyntaxError");
          assert.match(
            error.message,
            new RegExp(
              `^Cannot read pickle "${file}": global "posix\\.system" \\(GLOBAL at byte \\d+\\) is not allowed`,
            ),
          );
          return true;
        },
      );
      await assert.rejects(() => Deno.stat(proof), Deno.errors.NotFound);
    });
  },
});

Deno.test("a batch's bytes are not copied while parsing: data is a view into the file", () => {
  const bytes = writePythonBatch(batchInput(2));
  const value = readPickle(bytes, "view") as PickleDict;
  const data = value.entries.get("data") as PickleArray;
  assert.equal(data.data.buffer, bytes.buffer);
});
