// Finding and reading the config file: no parser here, so a command whose checked project is cached
// (project-cache.ts) loads neither yaml nor the schema.
import { closeSync, constants, existsSync, fstatSync, openSync, readFileSync, type Stats } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { UserError } from "../errors.ts";

export const CONFIG_FILE = "skiff.yml";
/** Far more than any real config; a bigger file is a mistake (or an attack on the parser). */
export const MAX_CONFIG_BYTES = 1024 * 1024;
export const TS_CONFIG_FILE = "skiff.config.ts";

/** skiff.yml (or skiff.config.ts) in `from` or the nearest parent directory. */
export function findConfig(from: string = process.cwd()): string {
  for (let dir = resolve(from); ; dir = dirname(dir)) {
    const yml = join(dir, CONFIG_FILE);
    const ts = join(dir, TS_CONFIG_FILE);
    if (existsSync(yml) && existsSync(ts)) throw new UserError(`${dir} has both ${CONFIG_FILE} and ${TS_CONFIG_FILE}`, { hint: "keep one, or pass --config FILE" });
    if (existsSync(yml)) return yml;
    if (existsSync(ts)) return ts;
    if (dirname(dir) === dir) throw new UserError(`no ${CONFIG_FILE} (or ${TS_CONFIG_FILE}) in ${resolve(from)} or any parent directory`, { hint: "run `skiff init` to write a starter file, or pass --config FILE" });
  }
}

/** The config's text: a regular file of sane size. Opened without blocking, so a FIFO or device is refused, not waited on. */
export function readConfigText(file: string): string {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    throw new UserError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { hint: "check the path given to --config" });
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new UserError(`${file} is not a regular file (it is ${kindOf(st)})`, { exitCode: 2, hint: "pass the path of skiff.yml (or skiff.config.ts) with --config" });
    if (st.size > MAX_CONFIG_BYTES) throw new UserError(`${file} is too large for a config (${st.size} bytes; at most ${MAX_CONFIG_BYTES})`, { exitCode: 2, hint: "check the path given to --config" });
    const text = readFileSync(fd, "utf8");
    if (text.length > MAX_CONFIG_BYTES) throw new UserError(`${file} is too large for a config (it grew while being read)`, { exitCode: 2 });
    return text;
  } finally {
    closeSync(fd);
  }
}

function kindOf(st: Stats): string {
  if (st.isDirectory()) return "a directory";
  if (st.isFIFO()) return "a FIFO";
  if (st.isSocket()) return "a socket";
  if (st.isCharacterDevice() || st.isBlockDevice()) return "a device";
  return "not a file";
}
