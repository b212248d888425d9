// Where in a driver's own code an exception was thrown: the frames of its stack that
// are the driver's, not ndis-sim's, as a debugger's call stack shows the faulting
// driver's frames over the kernel's.

import { basename, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** ndis-sim's src/ directory (src/report/ → src/), and its drivers' within it. */
const srcDir = fileURLToPath(new URL('../', import.meta.url));
const driversDir = `${srcDir}drivers${sep}`;
/** The ndis-sim checkout or package src/ lies in (its examples/ and test/ beside it). */
const rootDir = fileURLToPath(new URL('../../', import.meta.url));

/** One line of a V8 stack: `at fn (file:line:col)` or `at file:line:col`. */
const frameLine = /^\s*at (?:(.+?) \()?(.+?):(\d+):(\d+)\)?$/;

/** Whether a file is ndis-sim's or node's own code rather than a driver's. */
function ours(file: string): boolean {
  if (file.startsWith('node:')) return true;
  if (file.startsWith(srcDir)) return !file.startsWith(driversDir);
  return file.includes(`${sep}node_modules${sep}`);
}

/**
 * The driver's frames of `e`'s stack, innermost first, each `fn (file:line:col)`: the
 * first run of frames outside ndis-sim, after any of ndis-sim's own on top (a DDI
 * that a driver's bad argument made throw), at most `max`. Empty for a value that is
 * not an Error or whose stack names no driver file.
 */
export function driverFrames(
  e: unknown,
  max = 3,
  show: (file: string) => string = siteShown,
): { frames: string[]; top: string | null } {
  const frames: string[] = [];
  let top: string | null = null;
  if (!(e instanceof Error) || typeof e.stack !== 'string') return { frames, top };
  for (const line of e.stack.split('\n')) {
    const m = frameLine.exec(line);
    if (m === null) continue;
    const file = m[2]!.startsWith('file://') ? fileURLToPath(m[2]!) : m[2]!;
    if (ours(file)) {
      if (frames.length > 0) break;
      continue;
    }
    const where = `${show(file)}:${m[3]}:${m[4]}`;
    top ??= where;
    frames.push(m[1] === undefined ? where : `${m[1]} (${where})`);
    if (frames.length === max) break;
  }
  return { frames, top };
}

/**
 * Whether every frame `e`'s stack names is ndis-sim's or node's own, and it names some:
 * an exception that no driver code was running under (the host's stack run out by
 * ndis-sim recursing by itself inside a DDI). False when the stack names no frame.
 */
export function onlyOurFrames(e: unknown): boolean {
  if (!(e instanceof Error) || typeof e.stack !== 'string') return false;
  let any = false;
  for (const line of e.stack.split('\n')) {
    const m = frameLine.exec(line);
    if (m === null) continue;
    if (!ours(m[2]!.startsWith('file://') ? fileURLToPath(m[2]!) : m[2]!)) return false;
    any = true;
  }
  return any;
}

/**
 * The line of driver code that is calling the DDI under way, `file:line:col`, from a
 * stack captured now: the first frame outside ndis-sim's own code (src/, but not
 * src/drivers/; node's; node_modules). Null when no driver frame is on the stack (NDIS,
 * the kernel or a watchdog is running). Only for a violation, never on the hot path:
 * capturing a stack costs microseconds. The limit of V8's stack depth is raised for the
 * capture, since a DDI's own frames may be more than the default ten.
 */
export function driverCallSite(): string | null {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 64;
  const e = new Error('call site');
  Error.stackTraceLimit = limit;
  return driverFrames(e, 1).top;
}

/**
 * A driver file as a call site names it, the same from any working directory (a replay
 * run elsewhere must trace the same bytes): relative to ndis-sim's root for its own
 * drivers, examples and tests (src/drivers/lwf.ts), else the file's base name (mynic.ts).
 */
function siteShown(file: string): string {
  return file.startsWith(rootDir) ? relative(rootDir, file).split(sep).join('/') : basename(file);
}
