/**
 * An optimiser's state (step count and slots such as Adam's moments) as plain data, named after the
 * model's parameters, so that a checkpoint can hold it and a resumed run can take exactly the step
 * the saved run would have taken.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { OptimizerState } from "../model/checkpoint.ts";
import type { Model } from "../model/model.ts";

function optimizerClassName(optimizer: tf.Optimizer): string {
  return (optimizer.constructor as unknown as { className?: string }).className ??
    optimizer.constructor.name;
}

/** Optimisers whose saved slots are interchangeable (the fused Adam stores what tf.train.adam does). */
function optimizerFamily(className: string): string {
  return className === "FusedAdam" ? "Adam" : className;
}

/**
 * Reads an optimiser's state (step count and slots such as Adam's moments), with each slot named
 * after the model's parameter (`fc1.weight/m`) instead of the tfjs variable, whose name changes
 * whenever a model is rebuilt. Save it with `saveCheckpoint(model, dir, { optimizer })`.
 *
 * @param optimizer The optimiser (after some steps; a fresh one has no slots yet).
 * @param model The model it trains.
 * @returns A copy of the state (no tensors).
 * @throws {Error} When a slot belongs to a variable that is not one of the model's parameters.
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { makeConfig } from "../core/config.ts";
 * import { buildModel } from "../model/model.ts";
 * import { createOptimizer } from "./optimizers.ts";
 * import { getOptimizerState } from "./optimizer_state.ts";
 * await tf.setBackend("cpu");
 * const config = makeConfig({ convChannels: [2], poolEvery: 1, hiddenUnits: 4 });
 * const model = buildModel(config);
 * const optimizer = createOptimizer(config);
 * optimizer.minimize(() => tf.sum(model.params["fc2.bias"]!), false, [model.params["fc2.bias"]!]);
 * const state = await getOptimizerState(optimizer, model);
 * if (state.iterations !== 1 || state.slots.map((s) => s.name).join() !== "fc2.bias/m,fc2.bias/v") {
 *   throw new Error(JSON.stringify(state.slots.map((s) => s.name)));
 * }
 * optimizer.dispose();
 * model.dispose();
 * ```
 */
export async function getOptimizerState(
  optimizer: tf.Optimizer,
  model: Model,
): Promise<OptimizerState> {
  const parameterOf = new Map(Object.entries(model.params).map(([name, v]) => [v.name, name]));
  const named = await optimizer.getWeights();
  try {
    const [iterations, ...slots] = named;
    return {
      className: optimizerClassName(optimizer),
      config: structuredClone(optimizer.getConfig()) as Record<string, unknown>,
      iterations: iterations === undefined ? 0 : (await iterations.tensor.data())[0]!,
      slots: await Promise.all(slots.map(async ({ name, tensor }) => {
        // tfjs names a slot `<variable>/<slot>`, e.g. `17/m`.
        const cut = name.indexOf("/");
        const parameter = parameterOf.get(cut < 0 ? name : name.slice(0, cut));
        if (parameter === undefined) {
          throw new Error(
            `Cannot read optimizer state: slot "${name}" belongs to no parameter of the model ` +
              `(its variables are ${[...parameterOf.keys()].join(", ")})`,
          );
        }
        const values = await tensor.data() as Float32Array;
        return {
          name: `${parameter}${cut < 0 ? "" : name.slice(cut)}`,
          shape: [...tensor.shape],
          // A slot variable changes with the next step: copy it. A fresh tensor (the fused Adam
          // hands out copies) is disposed below and its array is ours already.
          values: tensor instanceof tf.Variable ? Float32Array.from(values) : values,
        };
      })),
    };
  } finally {
    // tfjs optimisers hand out their own slot variables; others (the fused Adam) fresh copies.
    for (const { tensor } of named) if (!(tensor instanceof tf.Variable)) tensor.dispose();
  }
}

/**
 * Restores an optimiser's state read by `getOptimizerState` into a fresh optimiser of the same
 * kind (tf.train.adam and the fused Adam of the "blas" backend accept each other's state), for
 * the model it will train, so that the next step is exactly the step the saved run would have
 * taken. Adam's running products β₁ᵗ and β₂ᵗ are rebuilt by the same float32 products training
 * takes, not `Math.pow` as tfjs's own `setWeights` does, which can differ in the last bit.
 *
 * @param optimizer A fresh optimiser (no steps taken yet).
 * @param model The model it trains: every slot's parameter must exist there with the slot's shape.
 * @param state The saved state.
 * @returns Resolves once restored.
 * @throws {TypeError} When the state was saved by another kind of optimiser.
 * @throws {RangeError} When a slot's parameter is missing from the model or has another shape.
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { makeConfig } from "../core/config.ts";
 * import { buildModel } from "../model/model.ts";
 * import { createOptimizer } from "./optimizers.ts";
 * import { getOptimizerState, setOptimizerState } from "./optimizer_state.ts";
 * await tf.setBackend("cpu");
 * const config = makeConfig({ convChannels: [2], poolEvery: 1, hiddenUnits: 4, optimizer: "sgd" });
 * const model = buildModel(config);
 * const trained = createOptimizer(config);
 * trained.minimize(() => tf.sum(model.params["fc2.bias"]!), false, [model.params["fc2.bias"]!]);
 * const state = await getOptimizerState(trained, model);
 * const fresh = createOptimizer(config);
 * await setOptimizerState(fresh, model, state);
 * if (fresh.iterations !== 1) throw new Error("step count not restored");
 * model.dispose();
 * ```
 */
export async function setOptimizerState(
  optimizer: tf.Optimizer,
  model: Model,
  state: OptimizerState,
): Promise<void> {
  const className = optimizerClassName(optimizer);
  if (optimizerFamily(className) !== optimizerFamily(state.className)) {
    throw new TypeError(
      `Cannot restore optimizer state: it was saved by a ${state.className} optimizer, found a ` +
        `${className} optimizer (use the run's own optimizer setting)`,
    );
  }
  // 1. Check every slot against the model and split its name into parameter and slot kind.
  const slots = state.slots.map((slot) => {
    const cut = slot.name.indexOf("/");
    const parameter = cut < 0 ? slot.name : slot.name.slice(0, cut);
    const variable = model.params[parameter];
    if (variable === undefined) {
      throw new RangeError(
        `Cannot restore optimizer state: slot "${slot.name}" names parameter "${parameter}", ` +
          `which the model lacks (it has ${Object.keys(model.params).join(", ")})`,
      );
    }
    if (
      slot.values.length !== variable.size ||
      slot.shape.join() !== variable.shape.join()
    ) {
      throw new RangeError(
        `Cannot restore optimizer state: slot "${slot.name}" expected shape [${
          variable.shape.join(", ")
        }], found [${slot.shape.join(", ")}] with ${slot.values.length} values`,
      );
    }
    return { ...slot, variable, kind: cut < 0 ? "" : slot.name.slice(cut) };
  });
  // 2. tfjs optimisers match slots to gradients by position, and gradients come in the order of
  //    the variables' (numeric) names: order each kind of slot that way.
  const variableOrder = Object.keys(
    Object.fromEntries(Object.values(model.params).map((v) => [v.name, true])),
  );
  const kinds = [...new Set(slots.map((s) => s.kind))];
  const ordered = kinds.flatMap((kind) =>
    variableOrder.flatMap((name) =>
      slots.filter((s) => s.kind === kind && s.variable.name === name)
    )
  );
  const isAdam = optimizerFamily(className) === "Adam";
  // 3. Adam's β products are replayed below, from step 0.
  const named = [
    { name: "iter", tensor: tf.scalar(isAdam ? 0 : state.iterations, "int32") as tf.Tensor },
    ...ordered.map((s) => ({
      name: `${s.variable.name}${s.kind}`,
      tensor: tf.tensor(s.values, s.shape, "float32"),
    })),
  ];
  try {
    await optimizer.setWeights(named);
  } finally {
    for (const { tensor } of named) tensor.dispose();
  }
  if (isAdam) replayAdamSteps(optimizer, state.iterations);
}

/** Advances Adam's step count and β₁ᵗ, β₂ᵗ as `steps` training steps would, moments untouched. */
function replayAdamSteps(optimizer: tf.Optimizer, steps: number): void {
  // By class name: tfjs's `instanceof` accepts any optimiser for any optimiser class.
  if (optimizerClassName(optimizer) === "Adam") {
    // tf.train.adam keeps βᵗ in float32 variables, multiplied by β once per step.
    const adam = optimizer as unknown as {
      beta1: number;
      beta2: number;
      accBeta1: tf.Variable;
      accBeta2: tf.Variable;
      iterations_: number;
    };
    const f = Math.fround;
    let acc1 = f(adam.beta1), acc2 = f(adam.beta2);
    for (let i = 0; i < steps; i++) {
      acc1 = f(acc1 * f(adam.beta1));
      acc2 = f(acc2 * f(adam.beta2));
    }
    tf.tidy(() => {
      adam.accBeta1.assign(tf.scalar(acc1));
      adam.accBeta2.assign(tf.scalar(acc2));
    });
    adam.iterations_ = steps;
    return;
  }
  // Other Adams (the fused one) keep βᵗ privately: an empty step advances exactly that.
  for (let i = 0; i < steps; i++) optimizer.applyGradients({});
}
