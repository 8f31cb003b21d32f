import assert from "node:assert/strict";
import { liveDisplay } from "../../lib/display/live.ts";
import { fakeClock, fakeJupyter, SVG } from "./_fakes.ts";

Deno.test("liveDisplay() renders only when it redraws, in place", async () => {
  const jupyter = fakeJupyter();
  const clock = fakeClock();
  const live = await liveDisplay(SVG, { jupyter, minIntervalMs: 1000, now: clock.now });
  let renders = 0;
  const render = () => {
    renders++;
    return { outerHTML: `<svg aria-label="v${renders}"></svg>` };
  };
  await live.update(render); // within the interval: deferred
  await live.update(render);
  assert.equal(renders, 0);
  clock.advance(1000);
  await live.update(render);
  assert.equal(renders, 1);
  await live.flush(); // nothing pending
  await live.update(render);
  await live.flush();
  assert.equal(renders, 2);
  assert.deepEqual(
    jupyter.calls.map((
      c,
    ) => [c.options.update ?? false, (c.value as Record<string, string>)["text/plain"]]),
    [[false, "[chart: Loss]"], [true, "[chart: v1]"], [true, "[chart: v2]"]],
  );
  assert.ok(jupyter.calls.every((c) => c.options.display_id === live.displayId && c.options.raw));
});

Deno.test("liveDisplay() outside a notebook never renders", async () => {
  const live = await liveDisplay("x", { jupyter: null });
  await live.update(() => {
    throw new Error("must not render");
  });
  await live.flush();
  assert.equal(live.displayId, null);
});
