/**
 * Time as the project shows and spends it: one duration formatter (words for tables and logs, a
 * clock for progress bars) and one rule for giving the event loop a turn during long loops.
 * @module
 */

/** How a duration is written: `"words"` (`1h 02m`, `12m 05s`, `4s`) or `"clock"` (`1:02:05`, `12:05`). */
export type DurationFormat = "words" | "clock";

/**
 * Writes a duration in seconds for people.
 *
 * @param seconds The duration; rounded to whole seconds.
 * @param format `"words"`: the two largest units (`1h 02m`, `12m 05s`, `4s`), for run tables and
 *   logs. `"clock"`: `[h:]mm:ss` like tqdm, for progress bars; a negative or non-finite duration
 *   (an estimate not known yet) is `?`. @default "words"
 * @returns The text.
 * @example
 * ```ts
 * import { formatDuration } from "./time.ts";
 * if (formatDuration(3725) !== "1h 02m" || formatDuration(725) !== "12m 05s") throw new Error();
 * if (formatDuration(3725, "clock") !== "1:02:05" || formatDuration(65, "clock") !== "01:05") {
 *   throw new Error();
 * }
 * ```
 */
export function formatDuration(seconds: number, format: DurationFormat = "words"): string {
  if (format === "clock") {
    if (!Number.isFinite(seconds) || seconds < 0) return "?";
    const s = Math.round(seconds);
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    const mm = String(m).padStart(2, "0"), ss = String(r).padStart(2, "0");
    return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
  }
  const s = Math.round(seconds);
  if (s >= 3600) {
    return `${Math.floor(s / 3600)}h ${String(Math.floor(s / 60) % 60).padStart(2, "0")}m`;
  }
  if (s >= 60) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
  return `${s}s`;
}

/**
 * How often a long loop gives the event loop a turn, in milliseconds. Signal handlers (Ctrl-C,
 * JupyterLab's Kernel → Interrupt) and the kernel's output messages only run when the event loop
 * turns, and a loop of awaited promises never lets it; a turn every 200 ms costs about 1%.
 */
export const YIELD_INTERVAL_MS = 200;

/**
 * Resolves on the next turn of the event loop (a macrotask), after pending signals and I/O.
 *
 * @returns Resolves on the next turn.
 * @example
 * ```ts
 * import { nextTurn } from "./time.ts";
 * let ran = false;
 * setTimeout(() => ran = true, 0);
 * await nextTurn();
 * if (!ran) throw new Error("a timer queued earlier should have run");
 * ```
 */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/**
 * A function for the top of a long loop's body: it gives the event loop a turn when
 * `intervalMs` have passed since the last one, and is free otherwise.
 *
 * @param intervalMs Milliseconds between turns. @default YIELD_INTERVAL_MS
 * @param now The clock, in milliseconds. @default performance.now
 * @returns Call and await it once per iteration.
 * @example
 * ```ts
 * import { turnTaker } from "./time.ts";
 * let t = 0;
 * const takeTurn = turnTaker(200, () => t);
 * let ran = false;
 * setTimeout(() => ran = true, 0);
 * await takeTurn(); // 0 ms passed: no turn
 * t = 250;
 * await takeTurn(); // 250 ms passed: a turn, so the timer ran
 * if (!ran) throw new Error("expected a turn after 250 ms");
 * ```
 */
export function turnTaker(
  intervalMs: number = YIELD_INTERVAL_MS,
  now: () => number = () => performance.now(),
): () => Promise<void> {
  let last = now();
  return async () => {
    if (now() - last < intervalMs) return;
    await nextTurn();
    last = now();
  };
}
