/**
 * A notebook output that later updates redraw in place (a live chart), drawn no more often than
 * an interval and only when it is actually redrawn.
 * @module
 */
import type { ProgressDisplayOptions } from "./progress.ts";
import { newDisplayId, resolveJupyter, settle, svgBundle } from "./show.ts";

/** An output that can be redrawn in place (a live chart). */
export interface LiveDisplay {
  /** The display id of its output in the notebook; null outside a notebook. */
  readonly displayId: string | null;
  /**
   * Redraws with what `render` returns. Calls closer together than `minIntervalMs` are deferred:
   * `render` runs only when the output is actually redrawn (here or in `flush`).
   */
  update(render: () => unknown): Promise<void>;
  /** Redraws now with the latest deferred `render`, if any. */
  flush(): Promise<void>;
}

/**
 * Shows a value that later updates redraw in place, e.g. a loss chart during training. Outside a
 * notebook nothing is shown (a chart has no terminal form) and updates cost nothing.
 *
 * @param initial The first value to show (anything `show` accepts).
 * @param options Redraw interval (default 1000 ms), clock, output target.
 * @returns The live output.
 * @example
 * ```ts
 * import { liveDisplay } from "./live.ts";
 * const live = await liveDisplay("start", { jupyter: null });
 * let rendered = 0;
 * await live.update(() => rendered++);
 * if (live.displayId !== null || rendered !== 0) throw new Error("no notebook: nothing to draw");
 * ```
 */
export async function liveDisplay(
  initial: unknown,
  options: Omit<ProgressDisplayOptions, "label" | "write" | "isTerminal"> = {},
): Promise<LiveDisplay> {
  const jupyter = resolveJupyter(options);
  if (jupyter === null) {
    return { displayId: null, update: () => Promise.resolve(), flush: () => Promise.resolve() };
  }
  const now = options.now ?? (() => performance.now());
  const interval = options.minIntervalMs ?? 1000;
  const displayId = newDisplayId();
  const send = (value: unknown, update: boolean) => {
    const bundle = svgBundle(value);
    return bundle === null
      ? jupyter.display(value, { display_id: displayId, update })
      : jupyter.display(bundle, { raw: true, display_id: displayId, update });
  };
  await send(initial, false);
  let last = now();
  let pending: (() => unknown) | null = null;
  const draw = async () => {
    if (pending === null) return;
    const render = pending;
    pending = null;
    last = now();
    await send(render(), true);
  };
  return {
    displayId,
    async update(render) {
      pending = render;
      if (now() - last >= interval) await draw();
    },
    async flush() {
      await draw();
      await settle();
    },
  };
}
