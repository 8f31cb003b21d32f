/**
 * Command-line flags for every tool of the project, on `node:util`'s `parseArgs`: one grammar
 * (`--flag value`, `--flag=value`, `--switch`, `--switch false`, `--no-switch`) and one set of
 * error messages, whichever script reads them. `parseArgs` in config.ts adds the config's flags.
 * @module
 */

import { parseArgs as parseNodeArgs } from "node:util";

/** What a flag takes: nothing or `true`/`false` (`"bool"`), or a value (`"string"`). */
export type FlagKind = "bool" | "string";

/** Flags a tool accepts, by their full name with dashes (`"--epochs"`). */
export type FlagSpec = Readonly<Record<string, FlagKind>>;

/** Options of `parseFlags`. */
export interface ParseFlagsOptions {
  /** Accept arguments that are not flags (file names) and return them. @default false */
  positionals?: boolean;
}

/** What `parseFlags` read. */
export interface ParsedFlags {
  /**
   * Each flag given, in order, by full name (`--epochs`): its text, or for a `"bool"` flag
   * `true`/`false` (`--no-x` and `--x false` give `false`). A flag given twice appears twice.
   */
  flags: [flag: string, value: string | boolean][];
  /** The arguments that are not flags, in order (only with `positionals`). */
  positionals: string[];
}

/**
 * Reads command-line flags against a spec, with `node:util`'s `parseArgs` doing the tokenising.
 *
 * @param args The arguments (`Deno.args`).
 * @param spec The flags allowed and what each takes.
 * @param options Whether non-flag arguments are allowed.
 * @returns The flags in the order given, and any positional arguments.
 * @throws {RangeError} For an unknown flag (`Cannot use flag --x: unknown flag; allowed flags: …`),
 *   a missing value (`Cannot parse --x: expected a value after it, found nothing`), a value given
 *   to a switch that is not `true`/`false`, or an argument that is not a flag when none are allowed.
 * @example
 * ```ts
 * import { parseFlags } from "./flags.ts";
 * const { flags, positionals } = parseFlags(
 *   ["--dir", "runs", "--json", "--no-color", "a.png"],
 *   { "--dir": "string", "--json": "bool", "--color": "bool" },
 *   { positionals: true },
 * );
 * if (JSON.stringify(flags) !== '[["--dir","runs"],["--json",true],["--color",false]]') throw new Error();
 * if (positionals.join() !== "a.png") throw new Error();
 * ```
 */
export function parseFlags(
  args: readonly string[],
  spec: FlagSpec,
  options: ParseFlagsOptions = {},
): ParsedFlags {
  const allowed = () => Object.keys(spec).sort().join(", ");
  const nodeOptions: Record<string, { type: "string" | "boolean" }> = {};
  for (const [flag, kind] of Object.entries(spec)) {
    nodeOptions[flag.replace(/^--/, "")] = { type: kind === "bool" ? "boolean" : "string" };
  }
  // Not strict: unknown flags come back as tokens, so the error can list the allowed ones.
  const { tokens } = parseNodeArgs({
    args: [...args],
    options: nodeOptions,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const flags: ParsedFlags["flags"] = [];
  const positionals: string[] = [];
  for (let t = 0; t < tokens.length; t++) {
    const token = tokens[t]!;
    if (token.kind === "option-terminator") continue;
    if (token.kind === "positional") {
      if (!options.positionals) {
        throw new RangeError(
          `Cannot parse argument "${token.value}": expected a --flag; allowed: ${allowed()}`,
        );
      }
      positionals.push(token.value);
      continue;
    }
    let flag = `--${token.name}`;
    let negated = false;
    if (!(flag in spec) && flag.startsWith("--no-") && spec[`--${flag.slice(5)}`] === "bool") {
      flag = `--${flag.slice(5)}`;
      negated = true;
    }
    const kind = spec[flag];
    if (kind === undefined) {
      throw new RangeError(
        `Cannot use flag ${token.rawName}: unknown flag; allowed flags: ${allowed()}`,
      );
    }
    if (kind === "string") {
      // A value that is another flag (`--dir --json`) means the value was left out.
      if (token.value === undefined || (!token.inlineValue && token.value.startsWith("--"))) {
        throw new RangeError(`Cannot parse ${flag}: expected a value after it, found nothing`);
      }
      flags.push([flag, token.value]);
      continue;
    }
    // A switch: `--x`, `--no-x`, `--x=false`, or `--x false` (the next argument, if true/false).
    let text = token.value;
    const next = tokens[t + 1];
    if (
      text === undefined && !negated && next?.kind === "positional" &&
      /^(true|false)$/.test(next.value)
    ) {
      text = next.value;
      t++;
    }
    if (text !== undefined && !/^(true|false)$/.test(text)) {
      throw new RangeError(`Cannot parse ${flag}: expected true or false, found "${text}"`);
    }
    flags.push([flag, negated ? false : text !== "false"]);
  }
  return { flags, positionals };
}

/** What `parseInteger` accepts: decimal digits, with a `-` in front for a negative number. */
const DECIMAL_INTEGER = /^-?[0-9]+$/;

/**
 * Parses an integer typed by a person, in a flag or an environment variable: decimal digits only.
 * `Number()` alone would take `0x1e` as 30, `1e1` as 10, `0b11` as 3 and ` 7 ` as 7, none of
 * which a person typing a count means.
 *
 * @param text The text.
 * @param source How to name it in errors (`--top`, `CIFAR10_BATCH_SIZE`).
 * @param range The smallest and largest value allowed, and what the number is (for the message).
 * @returns The number.
 * @throws {RangeError} `Cannot parse <source>: expected <what>, an integer ≥ 1 in decimal digits,
 *   found "0x1e"`, for anything else or a number out of range.
 * @example
 * ```ts
 * import { parseInteger } from "./flags.ts";
 * if (parseInteger("30", "--batch-size", { min: 1 }) !== 30) throw new Error();
 * let message = "";
 * try { parseInteger("0x1e", "--batch-size", { min: 1 }); } catch (e) { message = String(e); }
 * if (!message.includes('expected an integer ≥ 1 in decimal digits, found "0x1e"')) throw new Error(message);
 * ```
 */
export function parseInteger(
  text: string,
  source: string,
  range: { min?: number; max?: number; what?: string } = {},
): number {
  const { min, max, what } = range;
  const value = DECIMAL_INTEGER.test(text) ? Number(text) : NaN;
  if (
    !Number.isSafeInteger(value) || (min !== undefined && value < min) ||
    (max !== undefined && value > max)
  ) {
    const bounds = min !== undefined && max !== undefined
      ? ` from ${min} to ${max}`
      : min !== undefined
      ? ` ≥ ${min}`
      : max !== undefined
      ? ` ≤ ${max}`
      : "";
    throw new RangeError(
      `Cannot parse ${source}: expected ${
        what ? `${what}, ` : ""
      }an integer${bounds} in decimal digits, found "${text}"`,
    );
  }
  return value;
}

/** What `parseDecimal` accepts: `0.001`, `.5`, `2`, `1e-3`, `-0.5` (no hex, no Infinity). */
const DECIMAL_NUMBER = /^-?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$/;

/**
 * Parses a real number typed by a person: decimal notation, with an optional exponent (`1e-3`).
 * Hexadecimal, binary and octal forms, `Infinity` and surrounding spaces are refused.
 *
 * @param text The text.
 * @param source How to name it in errors.
 * @param what What the number is, for the message (`learning rate (> 0)`).
 * @returns The number.
 * @throws {RangeError} `Cannot parse <source>: expected <what>, a decimal number, found "0x10"`.
 * @example
 * ```ts
 * import { parseDecimal } from "./flags.ts";
 * if (parseDecimal("1e-3", "--lr") !== 0.001 || parseDecimal(".5", "--dropout") !== 0.5) throw new Error();
 * ```
 */
export function parseDecimal(text: string, source: string, what?: string): number {
  const value = DECIMAL_NUMBER.test(text) ? Number(text) : NaN;
  if (!Number.isFinite(value)) {
    throw new RangeError(
      `Cannot parse ${source}: expected ${
        what ? `${what}, ` : ""
      }a decimal number, found "${text}"`,
    );
  }
  return value;
}
