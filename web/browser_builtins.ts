/**
 * What the browser bundle of web/app.ts gets in place of the Node built-ins some lib/ modules
 * import (`node:path`, `node:url`, `node:util`, `node:crypto`): the page reaches those modules for
 * their pure parts (the config, the class names, the checkpoint format) and never calls the file,
 * command-line or hashing functions that need the built-ins. Should it ever call one, it fails
 * with a message naming the function instead of a bundle that does not load.
 *
 * `bundlePage` in scripts/serve.ts maps the built-ins here with an import map; the bundler fails
 * when a lib/ module imports a name this file does not export, so a new import cannot slip by.
 * @module
 */

function unavailable(name: string): never {
  throw new Error(
    `${name} is not available in the browser page: the page reads no files and parses no flags`,
  );
}

/** `node:path`'s `basename`: not in the browser. */
export const basename = (): never => unavailable("node:path basename()");
/** `node:path`'s `dirname`: not in the browser. */
export const dirname = (): never => unavailable("node:path dirname()");
/** `node:path`'s `isAbsolute`: not in the browser. */
export const isAbsolute = (): never => unavailable("node:path isAbsolute()");
/** `node:path`'s `relative`: not in the browser. */
export const relative = (): never => unavailable("node:path relative()");
/** `node:path`'s `sep`: the page builds no paths, but lib/core/paths.ts names it. */
export const sep = "/";
/** `node:path`'s `join`: not in the browser. */
export const join = (): never => unavailable("node:path join()");
/** `node:path`'s `resolve`: not in the browser. */
export const resolve = (): never => unavailable("node:path resolve()");
/** `node:url`'s `fileURLToPath`: not in the browser. */
export const fileURLToPath = (): never => unavailable("node:url fileURLToPath()");
/** `node:util`'s `parseArgs`: not in the browser. */
export const parseArgs = (): never => unavailable("node:util parseArgs()");
/** `node:crypto`'s `createHash`: not in the browser. */
export const createHash = (): never => unavailable("node:crypto createHash()");
