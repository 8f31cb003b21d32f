/**
 * Internal: the "blas" backend class, tfjs's `MathBackendCPU` plus a pool that recycles the
 * output arrays of our kernels.
 *
 * Why: every kernel returns a fresh `Float32Array`. Arrays of a few MB are mapped fresh from the
 * OS, so each first write to a page faults, and freeing unmaps them again; in a training step of
 * the tutorial's model that system time rivalled the arithmetic of the element-wise kernels. A
 * training loop allocates the same sizes every step, so handing a disposed tensor's array to the
 * next kernel that needs that size removes almost all of it.
 *
 * Safety: an array is recycled only when (1) our pool allocated it, (2) it was never handed out
 * by `readSync`/`read` (`dataSync()`, `data()`, `arraySync()`, `bufferSync()`), since callers may
 * keep those, and (3) no live tensor's data uses its buffer any more, counting views such as the
 * `cpu` Slice kernel's `subarray` outputs.
 * @module
 */

import { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import type { BackendValues, DataId, DataType } from "@tensorflow/tfjs-core";

/**
 * Pooled bytes kept at most. Beyond it the arrays freed longest ago go to the garbage collector
 * first: they are the sizes a loop stopped using (another batch size, the test pass after
 * training), while the sizes of the current loop come back every step.
 */
const DEFAULT_POOL_BYTES = 512 * 1024 * 1024;

/** Free arrays by length, plus the bookkeeping that decides when an array may be reused. */
export class ArrayPool {
  #free = new Map<number, Float32Array[]>();
  /** The same free arrays, freed longest ago first. */
  #age = new Set<Float32Array>();
  #freeBytes = 0;
  /** Bytes of free arrays kept at most. */
  readonly maxBytes: number;
  /** Buffers this pool allocated. */
  #owned = new WeakSet<ArrayBufferLike>();
  /** Buffers handed to callers by readSync: never reused. */
  #exposed = new WeakSet<ArrayBufferLike>();
  /** Live data entries per buffer (a tensor's array, or a view of it). */
  #live = new Map<ArrayBufferLike, number>();
  /** Arrays taken from the free lists (for tests and the bench). */
  reused = 0;
  /** Arrays newly allocated (for tests and the bench). */
  allocated = 0;

  /** @param maxBytes Bytes of free arrays kept at most; 0 recycles nothing. @default 512 MiB */
  constructor(maxBytes = DEFAULT_POOL_BYTES) {
    this.maxBytes = maxBytes;
  }

  /** A float32 array of exactly `length` values with unspecified contents. */
  take(length: number): Float32Array {
    const list = this.#free.get(length);
    const array = list?.pop();
    if (array !== undefined) {
      this.#age.delete(array);
      this.#freeBytes -= array.byteLength;
      this.reused++;
      return array;
    }
    const fresh = new Float32Array(length);
    this.#owned.add(fresh.buffer);
    this.allocated++;
    return fresh;
  }

  /** A zero-filled float32 array of `length` values. */
  takeZeroed(length: number): Float32Array {
    const array = this.take(length);
    return array.fill(0);
  }

  /** Notes a new data entry using `values`. */
  track(values: unknown) {
    const buffer = bufferOf(values);
    if (buffer !== null) this.#live.set(buffer, (this.#live.get(buffer) ?? 0) + 1);
  }

  /** Notes that `values` went out to a caller. */
  expose(values: unknown) {
    const buffer = bufferOf(values);
    if (buffer !== null) this.#exposed.add(buffer);
  }

  /** Notes a data entry's deletion; recycles its array when nothing else can see it. */
  untrack(values: unknown) {
    const buffer = bufferOf(values);
    if (buffer === null) return;
    const count = (this.#live.get(buffer) ?? 1) - 1;
    if (count > 0) {
      this.#live.set(buffer, count);
      return;
    }
    this.#live.delete(buffer);
    if (!this.#owned.has(buffer) || this.#exposed.has(buffer)) return;
    // Recycle the whole array the pool made, whichever view of it this entry held.
    const array = new Float32Array(buffer);
    if (array.byteLength > this.maxBytes) return;
    while (this.#freeBytes + array.byteLength > this.maxBytes) this.#evictOldest();
    let list = this.#free.get(array.length);
    if (list === undefined) {
      list = [];
      this.#free.set(array.length, list);
    }
    list.push(array);
    this.#age.add(array);
    this.#freeBytes += array.byteLength;
  }

  /** Bytes currently held in free lists. */
  get freeBytes(): number {
    return this.#freeBytes;
  }

  /** Drops every free array. */
  clear() {
    this.#free.clear();
    this.#age.clear();
    this.#freeBytes = 0;
  }

  /** Drops the free array freed longest ago. */
  #evictOldest() {
    const oldest = this.#age.values().next().value;
    if (oldest === undefined) return;
    this.#age.delete(oldest);
    const list = this.#free.get(oldest.length)!;
    list.splice(list.indexOf(oldest), 1);
    if (list.length === 0) this.#free.delete(oldest.length);
    this.#freeBytes -= oldest.byteLength;
  }
}

function bufferOf(values: unknown): ArrayBufferLike | null {
  return values instanceof Float32Array ? values.buffer : null;
}

/**
 * `MathBackendCPU` whose data entries are tracked by an {@linkcode ArrayPool}, so that our kernels
 * can take their output arrays from it.
 */
export class BlasBackend extends MathBackendCPU {
  /** Where our kernels take their output arrays from. */
  readonly pool: ArrayPool;

  /** @param pool The pool; `new ArrayPool(0)` recycles nothing. @default a 512 MiB pool */
  constructor(pool = new ArrayPool()) {
    super();
    this.pool = pool;
    // The cpu backend's first write advertises tfjs-node; under Deno that advice does not apply.
    (this as unknown as { firstUse: boolean }).firstUse = false;
  }

  override write(values: BackendValues, shape: number[], dtype: DataType): DataId {
    const dataId = super.write(values, shape, dtype);
    this.pool.track(values);
    return dataId;
  }

  override move(
    dataId: DataId,
    values: BackendValues,
    shape: number[],
    dtype: DataType,
    refCount: number,
  ): void {
    if (this.data.has(dataId)) this.pool.untrack(this.data.get(dataId).values);
    super.move(dataId, values, shape, dtype, refCount);
    this.pool.track(values);
  }

  override readSync(dataId: DataId): BackendValues {
    const values = super.readSync(dataId);
    this.pool.expose(values);
    return values;
  }

  override disposeData(dataId: DataId, force = false): boolean {
    const values = this.data.has(dataId) ? this.data.get(dataId).values : undefined;
    const released = super.disposeData(dataId, force);
    if (values !== undefined && !this.data.has(dataId)) this.pool.untrack(values);
    return released;
  }

  override dispose(): void {
    this.pool.clear();
    super.dispose();
  }
}

/** An output array: from the backend's pool when it has one, else fresh. */
export function allocate(backend: unknown, length: number): Float32Array {
  return backend instanceof BlasBackend ? backend.pool.take(length) : new Float32Array(length);
}

/** A zero-filled output array: from the backend's pool when it has one, else fresh. */
export function allocateZeroed(backend: unknown, length: number): Float32Array {
  return backend instanceof BlasBackend
    ? backend.pool.takeZeroed(length)
    : new Float32Array(length);
}
