/**
 * A restricted reader of Python pickles: exactly what the Python version of CIFAR-10 holds
 * (`cifar-10-batches-py/data_batch_1` …, written by Python 2's cPickle with protocol 2), and
 * nothing else. Internal to the data modules.
 *
 * A pickle is a small program for a stack machine, and Python's own `pickle.load` runs it with the
 * power to call any function it names (`os.system` included). This reader runs none: it knows the
 * few opcodes the format uses and rebuilds the four things the files contain (dicts of strings,
 * lists of ints, a uint8 numpy array, its dtype) as plain values. The four names the files refer to
 * (`numpy.core.multiarray._reconstruct`, `numpy.ndarray`, `numpy.dtype`, and `_codecs.encode`,
 * which Python 3 writes for bytes at protocol 2) are recognised by name and interpreted here; any
 * other name, any other opcode, or a known name used in another way is refused with an error that
 * names the file, the opcode or name and its byte offset. Every opcode consumes at least one byte,
 * so reading ends; nothing recurses; a length is checked against the bytes left before it is used.
 * @module
 */

/** A Python 2 `str` (`SHORT_BINSTRING`, `BINSTRING`) or Python 3 `bytes`: raw bytes. */
export class PickleBytes {
  /**
   * @param bytes The bytes (a view into the file for the large ones: no copy).
   */
  constructor(readonly bytes: Uint8Array) {}

  /** The bytes as text, one character per byte (what `pickle.load(encoding="latin1")` gives). */
  text(): string {
    let out = "";
    for (let i = 0; i < this.bytes.length; i += 4096) {
      out += String.fromCharCode(...this.bytes.subarray(i, i + 4096));
    }
    return out;
  }
}

/** A Python list. */
export class PickleList {
  /** The items, in order. */
  readonly items: PickleValue[] = [];
}

/** A Python tuple. */
export class PickleTuple {
  /**
   * @param items The items, in order.
   */
  constructor(readonly items: readonly PickleValue[]) {}
}

/** A Python dict whose keys are strings (the only keys the format uses). */
export class PickleDict {
  /** The entries, in the order the pickle set them. */
  readonly entries: Map<string, PickleValue> = new Map();
}

/** A name the pickle refers to with `GLOBAL`, one of the few this reader knows. */
export class PickleGlobal {
  /**
   * @param module Its module, e.g. `numpy`.
   * @param name Its name in the module, e.g. `ndarray`.
   */
  constructor(readonly module: string, readonly name: string) {}

  /** `module.name`. */
  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

/** A numpy dtype; this reader only builds `uint8` (`'u1'`). */
export class PickleDtype {
  /** Whether its state (`BUILD`) was set. */
  built = false;
  /**
   * @param descr Its type string, `u1`.
   */
  constructor(readonly descr: string) {}
}

/** A numpy array of `uint8`, as rebuilt from `_reconstruct` and its `BUILD` state. */
export class PickleArray {
  /** Whether its state (`BUILD`) was set; until then it has no shape or data. */
  built = false;
  /** Its shape, e.g. `[10000, 3072]`. */
  shape: number[] = [];
  /** Whether its data is in Fortran (column-major) order rather than C (row-major) order. */
  fortran = false;
  /** Its bytes, `product(shape)` of them (a view into the file: no copy). */
  data: Uint8Array = new Uint8Array(0);
}

/** What the reader builds. */
export type PickleValue =
  | null
  | boolean
  | number
  | string
  | PickleBytes
  | PickleList
  | PickleTuple
  | PickleDict
  | PickleGlobal
  | PickleDtype
  | PickleArray;

/** The names `GLOBAL` may refer to. None is ever called: `REDUCE` interprets them here. */
const ALLOWED_GLOBALS: readonly string[] = [
  "numpy.core.multiarray._reconstruct",
  "numpy._core.multiarray._reconstruct", // what numpy 2 writes
  "numpy.ndarray",
  "numpy.dtype",
  "_codecs.encode", // what Python 3 writes for bytes at protocol 2
];

/** Every opcode of pickle protocols 0–5, by byte, so an error can name what it refused. */
const OPCODE_NAMES: Readonly<Record<number, string>> = {
  0x28: "MARK",
  0x2e: "STOP",
  0x30: "POP",
  0x31: "POP_MARK",
  0x32: "DUP",
  0x46: "FLOAT",
  0x49: "INT",
  0x4a: "BININT",
  0x4b: "BININT1",
  0x4c: "LONG",
  0x4d: "BININT2",
  0x4e: "NONE",
  0x50: "PERSID",
  0x51: "BINPERSID",
  0x52: "REDUCE",
  0x53: "STRING",
  0x54: "BINSTRING",
  0x55: "SHORT_BINSTRING",
  0x56: "UNICODE",
  0x58: "BINUNICODE",
  0x61: "APPEND",
  0x62: "BUILD",
  0x63: "GLOBAL",
  0x64: "DICT",
  0x7d: "EMPTY_DICT",
  0x65: "APPENDS",
  0x67: "GET",
  0x68: "BINGET",
  0x69: "INST",
  0x6a: "LONG_BINGET",
  0x6c: "LIST",
  0x5d: "EMPTY_LIST",
  0x6f: "OBJ",
  0x70: "PUT",
  0x71: "BINPUT",
  0x72: "LONG_BINPUT",
  0x73: "SETITEM",
  0x74: "TUPLE",
  0x29: "EMPTY_TUPLE",
  0x75: "SETITEMS",
  0x47: "BINFLOAT",
  0x80: "PROTO",
  0x81: "NEWOBJ",
  0x82: "EXT1",
  0x83: "EXT2",
  0x84: "EXT4",
  0x85: "TUPLE1",
  0x86: "TUPLE2",
  0x87: "TUPLE3",
  0x88: "NEWTRUE",
  0x89: "NEWFALSE",
  0x8a: "LONG1",
  0x8b: "LONG4",
  0x42: "BINBYTES",
  0x43: "SHORT_BINBYTES",
  0x8c: "SHORT_BINUNICODE",
  0x8d: "BINUNICODE8",
  0x8e: "BINBYTES8",
  0x8f: "EMPTY_SET",
  0x90: "ADDITEMS",
  0x91: "FROZENSET",
  0x92: "NEWOBJ_EX",
  0x93: "STACK_GLOBAL",
  0x94: "MEMOIZE",
  0x95: "FRAME",
  0x96: "BYTEARRAY8",
  0x97: "NEXT_BUFFER",
  0x98: "READONLY_BUFFER",
};

/** The opcode's name and byte, e.g. `INST (0x69)`, or `unknown opcode 0xff`. */
function opcodeText(byte: number): string {
  const hex = `0x${byte.toString(16).padStart(2, "0")}`;
  const name = OPCODE_NAMES[byte];
  return name === undefined ? `unknown opcode ${hex}` : `${name} (${hex})`;
}

/**
 * How a value reads in an error: its Python type, with short scalars shown.
 *
 * @param value A value built by the reader.
 * @returns E.g. `int 7`, `str "data"`, `list of 3`, `numpy.ndarray`.
 */
export function describePickleValue(value: PickleValue): string {
  if (value === null) return "None";
  if (typeof value === "boolean") return value ? "True" : "False";
  if (typeof value === "number") return `int ${value}`;
  if (typeof value === "string") return `str ${JSON.stringify(value.slice(0, 40))}`;
  if (value instanceof PickleBytes) {
    return value.bytes.length <= 40
      ? `str ${JSON.stringify(value.text())}`
      : `str of ${value.bytes.length} bytes`;
  }
  if (value instanceof PickleList) return `list of ${value.items.length}`;
  if (value instanceof PickleTuple) return `tuple of ${value.items.length}`;
  if (value instanceof PickleDict) return `dict of ${value.entries.size}`;
  if (value instanceof PickleGlobal) return value.qualifiedName;
  if (value instanceof PickleDtype) return `numpy.dtype ${JSON.stringify(value.descr)}`;
  return "numpy.ndarray";
}

/** A string value: Python 2's `str` (bytes, read as latin-1) or a unicode string. */
function asText(value: PickleValue): string | null {
  if (typeof value === "string") return value;
  if (value instanceof PickleBytes) return value.text();
  return null;
}

function isInt(value: PickleValue): value is number {
  return typeof value === "number";
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Reads a pickle of the CIFAR-10 Python version's shape without running anything (see the module
 * docs for what it accepts).
 *
 * @param bytes The whole file.
 * @param name How to name the file in errors.
 * @returns The value the pickle builds (for a batch file, a `PickleDict`).
 * @throws {SyntaxError} On anything outside the format: another protocol, an opcode or global it
 *   does not use, a known global used otherwise, truncation, bytes after `STOP`; the message names
 *   the file and the byte offset.
 * @example
 * ```ts
 * import { PickleDict, readPickle } from "./pickle.ts";
 * // {'labels': [3]} as Python 2's cPickle writes it with protocol 2.
 * const bytes = new Uint8Array([
 *   0x80, 2, 0x7d, 0x71, 1, 0x55, 6, ...new TextEncoder().encode("labels"), 0x5d, 0x71, 2, 0x4b, 3,
 *   0x61, 0x73, 0x2e,
 * ]);
 * const value = readPickle(bytes, "tiny.pickle");
 * if (!(value instanceof PickleDict) || !value.entries.has("labels")) throw new Error("bad read");
 * ```
 */
export function readPickle(bytes: Uint8Array, name: string): PickleValue {
  const fail = (why: string): never => {
    throw new SyntaxError(`Cannot read pickle "${name}": ${why}`);
  };
  const stack: PickleValue[] = [];
  const marks: number[] = [];
  const memo = new Map<number, PickleValue>();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 0;
  let at = 0; // Offset of the opcode being run.
  let op = 0;
  const here = () => `${opcodeText(op)} at byte ${at}`;
  const need = (n: number): number => {
    if (n > bytes.length - pos) {
      fail(
        `it is truncated: ${here()} needs ${n} more bytes, found ${bytes.length - pos}`,
      );
    }
    const start = pos;
    pos += n;
    return start;
  };
  const pop = (): PickleValue => {
    const floor = marks.length > 0 ? marks[marks.length - 1]! : 0;
    if (stack.length <= floor) fail(`${here()} found nothing on the stack to take`);
    return stack.pop()!;
  };
  const top = (): PickleValue => {
    const floor = marks.length > 0 ? marks[marks.length - 1]! : 0;
    if (stack.length <= floor) fail(`${here()} found nothing on the stack`);
    return stack[stack.length - 1]!;
  };
  const popMark = (): PickleValue[] => {
    if (marks.length === 0) fail(`${here()} found no MARK before it`);
    return stack.splice(marks.pop()!);
  };
  const line = (): string => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0 || end - pos > 200) fail(`${here()}: its name has no end of line`);
    const text = new TextDecoder().decode(bytes.subarray(pos, end));
    pos = end + 1;
    return text;
  };
  const get = (index: number) => {
    if (!memo.has(index)) fail(`${here()} refers to memo ${index}, which was never set`);
    stack.push(memo.get(index)!);
  };
  const put = (index: number) => memo.set(index, top());

  if (bytes[0] !== 0x80 || bytes[1] !== 2) {
    fail(
      `expected pickle protocol 2 (bytes 0x80 0x02, as in the CIFAR-10 Python version), found ` +
        `${
          bytes.length < 2
            ? `${bytes.length} bytes`
            : `0x${bytes[0]!.toString(16)} 0x${bytes[1]!.toString(16)}`
        }`,
    );
  }
  pos = 2;
  while (pos < bytes.length) {
    at = pos;
    op = bytes[pos++]!;
    switch (op) {
      case 0x28: // MARK
        marks.push(stack.length);
        break;
      case 0x2e: { // STOP
        if (marks.length > 0) fail(`${here()} found a MARK left open`);
        if (stack.length !== 1) fail(`${here()} found ${stack.length} values, expected 1`);
        if (pos !== bytes.length) {
          fail(`${bytes.length - pos} bytes follow ${here()}, expected the file to end there`);
        }
        return stack[0]!;
      }
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4b: // BININT1
        stack.push(bytes[need(1)]!);
        break;
      case 0x4d: // BININT2
        stack.push(view.getUint16(need(2), true));
        break;
      case 0x4a: // BININT
        stack.push(view.getInt32(need(4), true));
        break;
      case 0x55: { // SHORT_BINSTRING
        const n = bytes[need(1)]!;
        const start = need(n);
        stack.push(new PickleBytes(bytes.subarray(start, start + n)));
        break;
      }
      case 0x54: { // BINSTRING
        const n = view.getInt32(need(4), true);
        if (n < 0) fail(`${here()} has a negative length (${n})`);
        const start = need(n);
        stack.push(new PickleBytes(bytes.subarray(start, start + n)));
        break;
      }
      case 0x58: { // BINUNICODE
        const n = view.getUint32(need(4), true);
        const start = need(n);
        try {
          stack.push(UTF8.decode(bytes.subarray(start, start + n)));
        } catch {
          fail(`${here()} holds text that is not valid UTF-8`);
        }
        break;
      }
      case 0x7d: // EMPTY_DICT
        stack.push(new PickleDict());
        break;
      case 0x5d: // EMPTY_LIST
        stack.push(new PickleList());
        break;
      case 0x71: // BINPUT
        put(bytes[need(1)]!);
        break;
      case 0x72: // LONG_BINPUT
        put(view.getUint32(need(4), true));
        break;
      case 0x68: // BINGET
        get(bytes[need(1)]!);
        break;
      case 0x6a: // LONG_BINGET
        get(view.getUint32(need(4), true));
        break;
      case 0x61: { // APPEND
        const item = pop();
        const list = top();
        if (!(list instanceof PickleList)) {
          fail(`${here()} appends to a ${describePickleValue(list)}, expected a list`);
        }
        (list as PickleList).items.push(item);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark();
        const list = top();
        if (!(list instanceof PickleList)) {
          fail(`${here()} appends to a ${describePickleValue(list)}, expected a list`);
        }
        for (const item of items) (list as PickleList).items.push(item);
        break;
      }
      case 0x73: // SETITEM
      case 0x75: { // SETITEMS
        const items = op === 0x73 ? [pop(), pop()].reverse() : popMark();
        const dict = top();
        if (!(dict instanceof PickleDict)) {
          fail(`${here()} sets items of a ${describePickleValue(dict)}, expected a dict`);
        }
        if (items.length % 2 !== 0) fail(`${here()} has a key without a value`);
        for (let i = 0; i < items.length; i += 2) {
          const key = asText(items[i]!);
          if (key === null) {
            fail(`${here()} has a key of type ${describePickleValue(items[i]!)}, expected str`);
          }
          (dict as PickleDict).entries.set(key!, items[i + 1]!);
        }
        break;
      }
      case 0x74: // TUPLE
        stack.push(new PickleTuple(popMark()));
        break;
      case 0x85: // TUPLE1
      case 0x86: // TUPLE2
      case 0x87: { // TUPLE3
        const items: PickleValue[] = [];
        for (let i = op - 0x84; i > 0; i--) items.unshift(pop());
        stack.push(new PickleTuple(items));
        break;
      }
      case 0x63: { // GLOBAL
        const module = line();
        const qualified = `${module}.${line()}`;
        if (!ALLOWED_GLOBALS.includes(qualified)) {
          fail(
            `global ${JSON.stringify(qualified)} (GLOBAL at byte ${at}) is not allowed: only ` +
              `${ALLOWED_GLOBALS.join(", ")} can appear in the CIFAR-10 Python version, and none ` +
              `is ever called`,
          );
        }
        const dot = qualified.lastIndexOf(".");
        stack.push(new PickleGlobal(qualified.slice(0, dot), qualified.slice(dot + 1)));
        break;
      }
      case 0x52: { // REDUCE
        const args = pop();
        const callable = pop();
        stack.push(reduce(callable, args, here, fail));
        break;
      }
      case 0x62: { // BUILD
        const state = pop();
        build(top(), state, here, fail);
        break;
      }
      default:
        fail(`${opcodeText(op)} at byte ${at} is not an opcode the CIFAR-10 Python version uses`);
    }
  }
  return fail(`it is truncated: no STOP opcode in its ${bytes.length} bytes`);
}

/** `REDUCE`: interprets a call of one of the allowed names, without calling anything. */
function reduce(
  callable: PickleValue,
  args: PickleValue,
  here: () => string,
  fail: (why: string) => never,
): PickleValue {
  if (!(callable instanceof PickleGlobal)) {
    return fail(`${here()} calls a ${describePickleValue(callable)}, expected an allowed global`);
  }
  const what = callable.qualifiedName;
  const items = args instanceof PickleTuple ? args.items : null;
  const bad = (expected: string): never =>
    fail(
      `${here()} calls ${what} with ${
        items === null
          ? describePickleValue(args)
          : `(${items.map(describePickleValue).join(", ")})`
      }, expected ${expected}`,
    );
  if (callable.name === "_reconstruct") {
    // numpy's pickles rebuild an array as _reconstruct(ndarray, (0,), b'b'), then BUILD.
    const [cls, shape, code] = items ?? [];
    if (
      items?.length !== 3 || !(cls instanceof PickleGlobal) ||
      cls.qualifiedName !== "numpy.ndarray" ||
      !(shape instanceof PickleTuple) || shape.items.length !== 1 || shape.items[0] !== 0 ||
      asText(code!) !== "b"
    ) {
      bad("(numpy.ndarray, (0,), 'b')");
    }
    return new PickleArray();
  }
  if (what === "numpy.dtype") {
    // dtype('u1', 0, 1) in Python 2's pickles, dtype('u1', False, True) in Python 3's.
    const [descr, align, copy] = items ?? [];
    if (
      items?.length !== 3 || asText(descr!) === null || (align !== 0 && align !== false) ||
      (copy !== 1 && copy !== true)
    ) {
      bad("('u1', 0, 1)");
    }
    if (asText(descr!) !== "u1") bad("'u1' (uint8): the CIFAR-10 images are bytes");
    return new PickleDtype("u1");
  }
  if (what === "_codecs.encode") {
    // Python 3 writes bytes at protocol 2 as _codecs.encode('<latin-1 text>', 'latin1').
    const [text, encoding] = items ?? [];
    if (items?.length !== 2 || typeof text !== "string" || encoding !== "latin1") {
      bad("(str, 'latin1')");
    }
    const out = new Uint8Array((text as string).length);
    for (let i = 0; i < out.length; i++) {
      const code = (text as string).charCodeAt(i);
      if (code > 255) bad("latin-1 text (character codes up to 255)");
      out[i] = code;
    }
    return new PickleBytes(out);
  }
  return fail(
    `${here()} calls ${what}: only numpy.core.multiarray._reconstruct, numpy.dtype and ` +
      `_codecs.encode can be reduced`,
  );
}

/** `BUILD`: sets the state of an array or a dtype, checking it is what numpy writes for uint8. */
function build(
  target: PickleValue,
  state: PickleValue,
  here: () => string,
  fail: (why: string) => never,
): void {
  const items = state instanceof PickleTuple ? state.items : null;
  const shown = items === null
    ? describePickleValue(state)
    : `(${items.map(describePickleValue).join(", ")})`;
  if (target instanceof PickleDtype) {
    if (target.built) fail(`${here()} sets the state of a dtype twice`);
    // (3, '|', None, None, None, -1, -1, 0): version, byte order, no subarray, names or fields.
    const byteOrder = items === null ? null : asText(items[1]!);
    if (
      items?.length !== 8 || items[0] !== 3 || byteOrder === null ||
      !["|", "<", ">", "="].includes(byteOrder) || items[2] !== null || items[3] !== null ||
      items[4] !== null || !items.slice(5).every(isInt)
    ) {
      fail(
        `${here()} gives dtype "u1" the state ${shown}, expected (3, '|', None, None, None, -1, -1, 0)`,
      );
    }
    target.built = true;
    return;
  }
  if (target instanceof PickleArray) {
    if (target.built) fail(`${here()} sets the state of an array twice`);
    // (1, shape, dtype, is_fortran, raw bytes).
    const [version, shape, dtype, fortran, data] = items ?? [];
    const dims = shape instanceof PickleTuple ? shape.items : null;
    if (
      items?.length !== 5 || version !== 1 || dims === null || !dims.every(isInt) ||
      !(dtype instanceof PickleDtype) || !dtype.built ||
      (typeof fortran !== "boolean" && fortran !== 0 && fortran !== 1) ||
      !(data instanceof PickleBytes)
    ) {
      return fail(
        `${here()} gives an array the state ${shown}, expected (1, shape, dtype('u1'), False, bytes)`,
      );
    }
    const sizes = dims as number[];
    if (sizes.some((n) => n < 0)) fail(`${here()} gives an array the shape (${sizes.join(", ")})`);
    const count = sizes.reduce((a, b) => a * b, 1);
    if (count !== data.bytes.length) {
      fail(
        `${here()} gives an array of shape (${sizes.join(", ")}) ${data.bytes.length} bytes, ` +
          `expected ${count}`,
      );
    }
    target.shape = [...sizes];
    target.fortran = fortran === true || fortran === 1;
    target.data = data.bytes;
    target.built = true;
    return;
  }
  fail(
    `${here()} sets the state of a ${describePickleValue(target)}: only numpy arrays and dtypes ` +
      `take state`,
  );
}
