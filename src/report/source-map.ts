// A position in the built JavaScript of one of ndis-sim's own drivers (dist/src/drivers/)
// mapped back to the TypeScript it was compiled from, through the source map tsc wrote
// beside it: so a call site reads src/drivers/lwf.ts and its real line, whether ndis-sim
// runs its sources through tsx or its built package (docs/decisions.md, call sites).
// Read only as a violation or a driver's exception is reported, never on the hot path;
// each map is read and decoded once, on first use, and kept.

import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/** A position in a source file: its absolute path, line and column, both from 1 as V8 counts. */
export interface SourcePosition {
  file: string;
  line: number;
  col: number;
}

/**
 * One mapping of a generated line: its column, and the source, line and column it came
 * from (all from 0); source -1 for a segment that maps its columns to no source.
 */
type Segment = readonly [genCol: number, source: number, line: number, col: number];

interface DecodedMap {
  /** The sources, as absolute paths. */
  sources: string[];
  /** Per generated line, its segments in order of column. */
  lines: (readonly Segment[])[];
}

const base64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const digit = new Map([...base64].map((c, i) => [c, i]));

/**
 * The numbers of one segment of a source map's `mappings`: Base64 VLQ, five bits a
 * digit with the sixth saying another follows, least significant first, the lowest bit
 * of the value its sign (Source Map Revision 3). Null for a character that is not Base64.
 */
export function decodeSegment(text: string): number[] | null {
  const values: number[] = [];
  let value = 0;
  let shift = 0;
  for (const c of text) {
    const d = digit.get(c);
    if (d === undefined) return null;
    value += (d & 31) * 2 ** shift;
    if (d & 32) {
      shift += 5;
      continue;
    }
    const magnitude = Math.floor(value / 2);
    values.push(value % 2 === 1 ? -magnitude : magnitude);
    value = 0;
    shift = 0;
  }
  return shift === 0 ? values : null;
}

/** A map's text decoded; null when it is not a version 3 map this code reads. */
function decodeMap(text: string, mapFile: string): DecodedMap | null {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof raw !== 'object' || raw === null) return null;
  const m = raw as { version?: unknown; sources?: unknown; sourceRoot?: unknown; mappings?: unknown };
  if (m.version !== 3 || !Array.isArray(m.sources) || typeof m.mappings !== 'string') return null;
  const root = typeof m.sourceRoot === 'string' ? m.sourceRoot : '';
  const dir = dirname(mapFile);
  const sources = m.sources.map((s) => resolve(dir, root, String(s)));
  // The source, line and column of each segment are deltas from the segment before,
  // across lines; the generated column starts again at 0 on each line.
  let source = 0;
  let line = 0;
  let col = 0;
  const lines: Segment[][] = [];
  for (const lineText of m.mappings.split(';')) {
    const segments: Segment[] = [];
    let genCol = 0;
    for (const text of lineText.split(',')) {
      if (text === '') continue;
      const v = decodeSegment(text);
      if (v === null || (v.length !== 1 && v.length !== 4 && v.length !== 5)) return null;
      genCol += v[0]!;
      if (v.length === 1) {
        segments.push([genCol, -1, -1, -1]);
        continue;
      }
      source += v[1]!;
      line += v[2]!;
      col += v[3]!;
      segments.push([genCol, source, line, col]);
    }
    lines.push(segments);
  }
  return { sources, lines };
}

/** The maps read so far by the JavaScript file they describe; null where there is none. */
const maps = new Map<string, DecodedMap | null>();

function mapOf(jsFile: string): DecodedMap | null {
  let m = maps.get(jsFile);
  if (m === undefined) {
    const mapFile = `${jsFile}.map`;
    let text: string | null = null;
    try {
      text = readFileSync(mapFile, 'utf8');
    } catch {
      // No map beside the file: it is named as it is.
    }
    m = text === null ? null : decodeMap(text, mapFile);
    maps.set(jsFile, m);
  }
  return m;
}

/**
 * Where line `line`, column `col` (from 1) of the JavaScript file `jsFile` came from,
 * by the map `jsFile`.map beside it: the last segment of that line at or before the
 * column, as Node's own source map support picks it. Null when there is no map, or no
 * segment of the line covers the column.
 */
export function originalPosition(jsFile: string, line: number, col: number): SourcePosition | null {
  const m = mapOf(jsFile);
  const segments = m?.lines[line - 1];
  if (m === null || m === undefined || segments === undefined) return null;
  let found: Segment | null = null;
  for (const s of segments) {
    if (s[0] > col - 1) break;
    found = s;
  }
  if (found === null || found[1] < 0) return null;
  const file = m.sources[found[1]];
  return file === undefined ? null : { file, line: found[2] + 1, col: found[3] + 1 };
}
