/**
 * `deno run -A scripts/make_samples.ts [--dir samples]`: draws the sample images that ship in
 * `samples/` for the "your own images" notebook and `deno task predict`. They are simple cartoon
 * shapes drawn here with the canvas (an airplane, a car, a ship, a frog, a cat), not photos and
 * not CIFAR-10 images; a model trained on CIFAR-10 photos may well get some of them wrong. They
 * come in several sizes and aspect ratios, as PNG and JPEG, to exercise resizing and cropping.
 *
 * Each picture is drawn in a 100×100 design square centred in the canvas; the background fills the
 * whole canvas, so wide and tall images differ only in how much background shows. The drawings are
 * deterministic, so rerunning the script reproduces the same pictures (the encoded bytes may differ
 * between Skia versions).
 * @module
 */
import { createCanvas, type SKRSContext2D } from "@napi-rs/canvas";
import { writeFileAtomic } from "../lib/core/fs.ts";
import { parseArgs } from "../lib/core/config.ts";

/** One sample file to draw. */
export interface SampleSpec {
  /** What the drawing shows (a CIFAR-10 class name). */
  subject: SampleSubject;
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** File format. */
  format: "png" | "jpeg";
}

/** The subjects the script can draw. */
export type SampleSubject = "airplane" | "automobile" | "ship" | "frog" | "cat";

/** The samples that ship with the project. */
export const SAMPLE_SPECS: readonly SampleSpec[] = Object.freeze([
  { subject: "airplane", width: 160, height: 120, format: "png" },
  { subject: "airplane", width: 640, height: 480, format: "jpeg" },
  { subject: "automobile", width: 200, height: 120, format: "jpeg" },
  { subject: "automobile", width: 64, height: 64, format: "png" },
  { subject: "ship", width: 240, height: 160, format: "jpeg" },
  { subject: "ship", width: 32, height: 32, format: "png" },
  { subject: "frog", width: 120, height: 160, format: "png" },
  { subject: "frog", width: 100, height: 100, format: "jpeg" },
  { subject: "cat", width: 48, height: 48, format: "jpeg" },
  { subject: "cat", width: 300, height: 200, format: "png" },
]);

/** JPEG quality of the samples (0–100). */
const JPEG_QUALITY = 88;

/**
 * The file name of a sample: `<subject>-<width>x<height>.<png|jpg>`.
 *
 * @param spec The sample.
 * @returns The name, e.g. `airplane-160x120.png`.
 * @example
 * ```ts
 * import { sampleFileName } from "./make_samples.ts";
 * if (sampleFileName({ subject: "cat", width: 48, height: 48, format: "jpeg" }) !== "cat-48x48.jpg") throw new Error();
 * ```
 */
export function sampleFileName(spec: SampleSpec): string {
  return `${spec.subject}-${spec.width}x${spec.height}.${spec.format === "jpeg" ? "jpg" : "png"}`;
}

type Draw = (context: SKRSContext2D, width: number, height: number) => void;

function ellipse(
  context: SKRSContext2D,
  x: number,
  y: number,
  rx: number,
  ry: number,
  color: string,
) {
  context.fillStyle = color;
  context.beginPath();
  context.ellipse(x, y, rx, ry, 0, 0, 2 * Math.PI);
  context.fill();
}

function polygon(context: SKRSContext2D, points: number[], color: string) {
  context.fillStyle = color;
  context.beginPath();
  context.moveTo(points[0]!, points[1]!);
  for (let i = 2; i < points.length; i += 2) context.lineTo(points[i]!, points[i + 1]!);
  context.closePath();
  context.fill();
}

function verticalGradient(
  context: SKRSContext2D,
  width: number,
  height: number,
  stops: [number, string][],
) {
  const gradient = context.createLinearGradient(0, 0, 0, height);
  for (const [at, color] of stops) gradient.addColorStop(at, color);
  context.fillStyle = gradient;
  context.fillRect(0, 0, width, height);
}

/** Backgrounds fill the canvas; subjects are drawn in design units (a 100×100 square). */
const BACKGROUNDS: Record<SampleSubject, Draw> = {
  airplane: (c, w, h) => verticalGradient(c, w, h, [[0, "#5d9fe0"], [1, "#d8ecfb"]]),
  automobile: (c, w, h) => {
    verticalGradient(c, w, h, [[0, "#9cc7e8"], [0.62, "#cfe3d0"], [0.62, "#6c6c6c"], [
      1,
      "#4a4a4a",
    ]]);
  },
  ship: (c, w, h) => {
    verticalGradient(c, w, h, [[0, "#a9cdea"], [0.6, "#e2eef7"], [0.6, "#2f6fa3"], [1, "#1d4b73"]]);
  },
  frog: (c, w, h) => verticalGradient(c, w, h, [[0, "#5b4a2f"], [1, "#3b2f1d"]]),
  cat: (c, w, h) => verticalGradient(c, w, h, [[0, "#e9e1d3"], [1, "#c9bda8"]]),
};

const SUBJECTS: Record<SampleSubject, (c: SKRSContext2D) => void> = {
  airplane: (c) => {
    ellipse(c, 78, 30, 8, 6, "#ffffff"); // a cloud
    ellipse(c, 86, 28, 7, 5, "#ffffff");
    polygon(c, [44, 50, 62, 50, 40, 80, 32, 80], "#7d8790"); // near wing
    polygon(c, [46, 46, 60, 46, 46, 26, 40, 26], "#9aa3ab"); // far wing
    ellipse(c, 50, 48, 38, 7, "#d9dee2"); // fuselage
    polygon(c, [14, 47, 20, 47, 12, 30, 7, 30], "#c4323c"); // tail fin
    polygon(c, [14, 49, 22, 49, 12, 58, 8, 58], "#9aa3ab"); // tail plane
    for (let x = 30; x <= 70; x += 6) ellipse(c, x, 46, 1.5, 1.5, "#2b4b6f"); // windows
    ellipse(c, 83, 46, 4, 2.5, "#2b4b6f"); // cockpit
  },
  automobile: (c) => {
    polygon(c, [30, 50, 38, 36, 66, 36, 76, 50], "#b3202a"); // cabin
    polygon(c, [34, 49, 40, 39, 51, 39, 51, 49], "#bfe0f5"); // windows
    polygon(c, [54, 49, 54, 39, 64, 39, 71, 49], "#bfe0f5");
    c.fillStyle = "#d22b35";
    c.beginPath();
    c.roundRect(14, 48, 74, 17, 5); // body
    c.fill();
    ellipse(c, 86, 54, 2.5, 2, "#ffe58a"); // headlight
    for (const x of [32, 72]) {
      ellipse(c, x, 65, 8, 8, "#1c1c1c"); // wheels
      ellipse(c, x, 65, 3.5, 3.5, "#b9b9b9");
    }
  },
  ship: (c) => {
    polygon(c, [8, 52, 92, 52, 82, 68, 16, 68], "#2b2b33"); // hull
    polygon(c, [8, 52, 92, 52, 91, 55, 9, 55], "#b3202a"); // stripe
    c.fillStyle = "#f2f2f2";
    c.fillRect(30, 40, 40, 12); // superstructure
    c.fillRect(40, 32, 22, 8);
    c.fillStyle = "#d94b2b";
    c.fillRect(64, 26, 7, 14); // funnel
    for (let x = 34; x <= 64; x += 6) ellipse(c, x, 46, 1.4, 1.4, "#2b4b6f");
    c.strokeStyle = "#9cc3e4";
    c.lineWidth = 1.2;
    for (const y of [74, 82, 90]) {
      c.beginPath();
      for (let x = 0; x <= 100; x += 10) c.quadraticCurveTo(x + 2.5, y - 2, x + 5, y);
      c.stroke();
    }
  },
  frog: (c) => {
    ellipse(c, 50, 78, 42, 10, "#3f7d3a"); // lily pad
    ellipse(c, 24, 66, 12, 6, "#4e9a2f"); // back legs
    ellipse(c, 76, 66, 12, 6, "#4e9a2f");
    ellipse(c, 50, 58, 28, 18, "#5fb83a"); // body
    ellipse(c, 50, 64, 18, 10, "#c9e39a"); // belly
    ellipse(c, 36, 74, 6, 3, "#4e9a2f"); // front feet
    ellipse(c, 64, 74, 6, 3, "#4e9a2f");
    for (const x of [38, 62]) {
      ellipse(c, x, 40, 8, 8, "#5fb83a"); // eye bumps
      ellipse(c, x, 39, 5, 5, "#f4e04d");
      ellipse(c, x, 39, 2.5, 4, "#111111");
    }
    c.strokeStyle = "#2e5e1e";
    c.lineWidth = 1.5;
    c.beginPath();
    c.arc(50, 52, 10, 0.15 * Math.PI, 0.85 * Math.PI); // mouth
    c.stroke();
  },
  cat: (c) => {
    polygon(c, [24, 40, 30, 12, 46, 30], "#d9822b"); // ears
    polygon(c, [76, 40, 70, 12, 54, 30], "#d9822b");
    polygon(c, [28, 34, 31, 19, 41, 30], "#f2b6a0");
    polygon(c, [72, 34, 69, 19, 59, 30], "#f2b6a0");
    ellipse(c, 50, 52, 30, 26, "#e8923a"); // head
    ellipse(c, 50, 64, 14, 9, "#f6e3c8"); // muzzle
    for (const x of [38, 62]) {
      ellipse(c, x, 48, 6, 5, "#9bd14a"); // eyes
      ellipse(c, x, 48, 1.8, 4.5, "#111111");
    }
    polygon(c, [46, 58, 54, 58, 50, 62], "#d9566b"); // nose
    c.strokeStyle = "#4a3a2a";
    c.lineWidth = 0.8;
    for (const side of [-1, 1]) {
      for (const dy of [-2, 1, 4]) {
        c.beginPath();
        c.moveTo(50 + side * 8, 62 + dy / 2);
        c.lineTo(50 + side * 30, 60 + dy * 1.5);
        c.stroke();
      }
    }
  },
};

/**
 * Draws one sample and encodes it.
 *
 * @param spec What to draw, how big, in which format.
 * @returns The encoded file.
 * @example
 * ```ts
 * import { drawSample } from "./make_samples.ts";
 * const png = drawSample({ subject: "frog", width: 40, height: 30, format: "png" });
 * if (png[1] !== 0x50 || png[2] !== 0x4e || png[3] !== 0x47) throw new Error("not a PNG");
 * ```
 */
export function drawSample(spec: SampleSpec): Uint8Array {
  const { width, height } = spec;
  const canvas = createCanvas(width, height);
  const context = canvas.getContext("2d");
  BACKGROUNDS[spec.subject](context, width, height);
  // 1. The 100×100 design square, centred, as large as the shorter side allows.
  const side = Math.min(width, height);
  context.translate((width - side) / 2, (height - side) / 2);
  context.scale(side / 100, side / 100);
  SUBJECTS[spec.subject](context);
  return new Uint8Array(
    spec.format === "jpeg"
      ? canvas.toBuffer("image/jpeg", JPEG_QUALITY)
      : canvas.toBuffer("image/png"),
  );
}

/**
 * Writes every sample in `SAMPLE_SPECS` into a folder (each file atomically).
 *
 * @param dir The folder, created when missing.
 * @returns The files written and their sizes in bytes.
 */
export async function writeSamples(dir: string): Promise<{ file: string; bytes: number }[]> {
  const written: { file: string; bytes: number }[] = [];
  for (const spec of SAMPLE_SPECS) {
    const file = `${dir.replace(/\/+$/, "")}/${sampleFileName(spec)}`;
    const data = drawSample(spec);
    await writeFileAtomic(file, data);
    written.push({ file, bytes: data.length });
  }
  return written;
}

const USAGE = "Usage: deno run -A scripts/make_samples.ts [--dir samples]";

/**
 * The command line: `--dir DIR` (default `samples`), `--help`.
 *
 * @param args The arguments.
 * @returns The exit code: 0 done, 2 bad arguments.
 */
export async function main(args: string[]): Promise<number> {
  let dir = "samples";
  try {
    const { overrides, extra } = parseArgs(args, { "--dir": "string", "--help": "bool" });
    const unused = Object.keys(overrides);
    if (unused.length > 0) {
      throw new RangeError(
        `Cannot use config field "${unused[0]}" here: make_samples only takes --dir`,
      );
    }
    if (extra.help === true) {
      console.log(USAGE);
      return 0;
    }
    if (typeof extra.dir === "string") dir = extra.dir;
  } catch (error) {
    console.error(`make_samples: ${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  const written = await writeSamples(dir);
  for (const { file, bytes } of written) {
    console.log(`${file}  ${bytes.toLocaleString("en-US")} bytes`);
  }
  const total = written.reduce((sum, w) => sum + w.bytes, 0);
  console.log(`${written.length} samples, ${total.toLocaleString("en-US")} bytes in all`);
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
