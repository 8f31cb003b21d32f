/**
 * Stand-ins the display tests share: a fake `Deno.jupyter` that records what would be sent, a
 * clock moved by hand, and an SVG element.
 * @module
 */
import type { DisplayOptions, JupyterApi } from "../../lib/display/show.ts";

/** A stand-in for `Deno.jupyter` that records every display call. */
export function fakeJupyter(): JupyterApi & {
  calls: { value: unknown; options: DisplayOptions }[];
} {
  const calls: { value: unknown; options: DisplayOptions }[] = [];
  return {
    calls,
    display(value, options = {}) {
      calls.push({ value, options });
      return Promise.resolve();
    },
  };
}

/** A clock the test moves by hand. */
export function fakeClock(): { now: () => number; advance(ms: number): void } {
  let t = 1000;
  return { now: () => t, advance: (ms) => t += ms };
}

/** An SVG element (a chart) labelled "Loss". */
export const SVG = {
  outerHTML: '<svg aria-label="Loss"><g aria-label="line"><path d="M0,0L1,1"/></g></svg>',
};
