/**
 * The process that writes a run record, and whether it still lives: a record says which process
 * (pid, host, start time) last wrote it and when, so a reader can tell a run that is training
 * from one whose process died without finishing its record. A live recorder rewrites its record
 * at least every `HEARTBEAT_INTERVAL_MS`; a "running" record silent for `STALE_AFTER_MS`, or whose
 * process is gone, reads back as interrupted (lib/runs/record.ts).
 * @module
 */

/** How often a training run rewrites its record at the least, to show it is alive. */
export const HEARTBEAT_INTERVAL_MS = 60_000;
/** A "running" record whose heartbeat is older than this reads as interrupted (stale). */
export const STALE_AFTER_MS = 10 * 60_000;

/** The process writing a run record, to tell whether a "running" record is still alive. */
export interface RunProcess {
  /** Process id. */
  pid: number;
  /** Host name. */
  host: string;
  /** The process's start time in clock ticks since boot (Linux), to tell a reused pid apart. */
  startTicks: number | null;
  /** When the record was last written by it (ISO time). */
  heartbeatAt: string;
}

function hostName(): string {
  try {
    return Deno.hostname();
  } catch {
    return "unknown"; // no --allow-sys
  }
}

/**
 * Field 22 of /proc/<pid>/stat: the start time in ticks since boot (Linux only); "gone" for no
 * such process, and for one that has exited but is not yet reaped.
 */
function processStartTicks(pid: number | "self"): number | null | "gone" {
  let text: string;
  try {
    text = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      // No such process, or no /proc at all (not Linux): tell the two apart.
      try {
        Deno.statSync("/proc/self/stat");
        return "gone";
      } catch {
        return null;
      }
    }
    return null;
  }
  // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // Field 3, the state: Z (zombie) and X (dead) are processes that have exited and only wait for
  // their parent (or init) to reap them, which takes about 2 s after a kill -9 here. They will
  // never write again, so a run they were training is interrupted, not running.
  if (fields[0] === "Z" || fields[0] === "X") return "gone";
  const ticks = Number(fields[19]);
  return Number.isFinite(ticks) ? ticks : null;
}

/**
 * This process, as a run record names its writer.
 *
 * @param now The time of the write (the heartbeat). @default the current time
 * @returns Pid, host, start ticks (null where /proc cannot tell) and the heartbeat.
 * @example
 * ```ts
 * import { currentProcess } from "./process.ts";
 * const process = currentProcess(new Date("2026-11-28T11:30:00Z"));
 * if (process.pid !== Deno.pid || process.heartbeatAt !== "2026-11-28T11:30:00.000Z") throw new Error();
 * ```
 */
export function currentProcess(now: Date = new Date()): RunProcess {
  const ticks = processStartTicks("self");
  return {
    pid: Deno.pid,
    host: hostName(),
    startTicks: typeof ticks === "number" ? ticks : null,
    heartbeatAt: now.toISOString(),
  };
}

/**
 * Whether the process that wrote a record still runs.
 *
 * @param process The record's process.
 * @returns true or false when this machine can tell (same host, Linux `/proc`), null otherwise.
 *   A zombie (exited, not yet reaped by its parent) is not alive.
 * @example
 * ```ts
 * import { isProcessAlive } from "./process.ts";
 * const alive = isProcessAlive({ pid: Deno.pid, host: Deno.hostname(), startTicks: null, heartbeatAt: "" });
 * if (alive === false) throw new Error("this very process is alive");
 * ```
 */
export function isProcessAlive(process: RunProcess): boolean | null {
  if (process.host !== hostName()) return null;
  const ticks = processStartTicks(process.pid);
  if (ticks === "gone") return false;
  if (ticks === null) return null;
  // Same pid, another start time: the pid was reused by a later process.
  return process.startTicks === null || process.startTicks === ticks;
}
