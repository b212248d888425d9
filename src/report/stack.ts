// Where in a driver's own code an exception was thrown: the frames of its stack that
// are the driver's, not ndis-sim's, as a debugger's call stack shows the faulting
// driver's frames over the kernel's.

import { basename, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { originalPosition } from './source-map.ts';

/**
 * Whether this is the built package's JavaScript (dist/src/report/stack.js) rather than
 * the TypeScript that tsx runs (src/report/stack.ts).
 */
const built = import.meta.url.endsWith('.js');
/** The ndis-sim checkout or package: src/ (and dist/ when built), examples/ and test/ lie in it. */
const rootDir = fileURLToPath(new URL(built ? '../../../' : '../../', import.meta.url));
/**
 * ndis-sim's code: its TypeScript, and when built its JavaScript too. A frame of the
 * built code names the .ts file where Node maps it back itself (source maps on, as tsx
 * turns them on, and a map beside the file: the build keeps only the drivers' maps, but
 * a build of one's own may keep all). Each with its drivers' directory, whose frames
 * are a driver's.
 */
const codeDirs = [...new Set([`${rootDir}src${sep}`, fileURLToPath(new URL('../', import.meta.url))])].map(
  (dir) => ({ dir, drivers: `${dir}drivers${sep}` }),
);
/** The built JavaScript of ndis-sim's drivers, whose positions map back to their TypeScript. */
const builtDriversDir = built ? fileURLToPath(new URL('../drivers/', import.meta.url)) : null;

/** One line of a V8 stack: `at fn (file:line:col)` or `at file:line:col`. */
const frameLine = /^\s*at (?:(.+?) \()?(.+?):(\d+):(\d+)\)?$/;

/** Whether a file is ndis-sim's or node's own code rather than a driver's. */
function ours(file: string): boolean {
  if (file.startsWith('node:')) return true;
  for (const { dir, drivers } of codeDirs) if (file.startsWith(dir)) return !file.startsWith(drivers);
  return file.includes(`${sep}node_modules${sep}`);
}

/**
 * A driver frame's `file:line:col` as the call site names it: for the built JavaScript
 * of one of ndis-sim's drivers, the TypeScript line it was compiled from, by the source
 * map beside it (src/drivers/lwf.ts:120:5 however ndis-sim runs); any other file as V8
 * names it. Reads a map only here, as a violation or exception is reported.
 */
function position(file: string, line: number, col: number, show: (file: string) => string): string {
  if (builtDriversDir !== null && file.startsWith(builtDriversDir) && file.endsWith('.js')) {
    const p = originalPosition(file, line, col);
    if (p !== null) return `${show(p.file)}:${p.line}:${p.col}`;
  }
  return `${show(file)}:${line}:${col}`;
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
    const where = position(file, Number(m[3]), Number(m[4]), show);
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
