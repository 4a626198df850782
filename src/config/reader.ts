// Reading a YAML config file with every mistake placed: each error is one
// InvalidSpecError whose message is "FILE:LINE:COL: FIELD: REASON" and whose
// `field` is the field's path (e.g. "limits.links_per_slice"), found through
// the `yaml` package's node ranges and a LineCounter (as src/topology/yaml.ts
// does for topologies). Unknown keys are errors too, with a "did you mean".
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve as resolvePath } from 'node:path';
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node, type YAMLMap, type YAMLSeq } from 'yaml';
import { InvalidSpecError } from '../errors.js';
import { suggest } from '../suggest.js';
import { DURATION_EXAMPLES, parseDuration } from './duration.js';

/** A value's node, or undefined for "not in the file". */
export type At = Node | undefined;

export class ConfigFile {
  readonly root: Node | null | undefined;
  private readonly doc: Document;
  private readonly lc = new LineCounter();

  /** `file` names the file in errors and anchors relative paths in it ('': text from no file). Syntax errors throw at once. */
  constructor(readonly file: string, text: string) {
    this.doc = parseDocument(text, { lineCounter: this.lc, prettyErrors: false, uniqueKeys: true, strict: true });
    const first = this.doc.errors[0];
    if (first) throw new InvalidSpecError(`${this.where(first.pos[0])}${first.message.split('\n')[0]}`, { field: '' });
    this.root = this.resolve(this.doc.contents as Node | null);
  }

  /** Read and parse `file`; a missing or unreadable file is one error naming it. */
  static read(file: string): ConfigFile {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new InvalidSpecError(`${file}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (e as Error).message}`, { field: '', cause: e });
    }
    return new ConfigFile(file, text);
  }

  /** The top-level mapping; an empty file is an empty mapping. */
  top(example: string): YAMLMap<unknown, unknown> | undefined {
    if (this.root === null || this.root === undefined || (isScalar(this.root) && this.root.value === null)) return undefined;
    return this.mapping(this.root, '', example);
  }

  fail(node: Node | null | undefined, path: string, reason: string): never {
    throw new InvalidSpecError(`${this.where(node?.range?.[0])}${path ? `${path}: ` : ''}${reason}`, { field: path });
  }

  // ---- structure ----

  mapping(node: Node | null | undefined, path: string, example?: string): YAMLMap<unknown, unknown> {
    if (!isMap(node)) this.fail(node, path, `expected a mapping${example ? ` (${example})` : ''}, got ${describe(node)}`);
    return node;
  }

  sequence(node: Node, path: string, example?: string): YAMLSeq<unknown> {
    if (!isSeq(node)) this.fail(node, path, `expected a list${example ? ` (${example})` : ''}, got ${describe(node)}`);
    return node;
  }

  /** Items of a list, aliases resolved. */
  items(seq: YAMLSeq<unknown>): Node[] {
    return seq.items.map((n) => this.resolve(n as Node | null) as Node);
  }

  /**
   * Every key must be one of `allowed`. `alias` maps another spelling to its
   * allowed key (e.g. camelCase in older pools files); a key given in both
   * spellings is an error.
   */
  checkKeys(m: YAMLMap<unknown, unknown>, path: string, allowed: readonly string[], alias?: (k: string) => string): void {
    const seen = new Map<string, string>();
    for (const pair of m.items) {
      const k = keyOf(pair);
      if (k === undefined) this.fail(pair.key as Node, path, `keys must be plain names, got ${describe(pair.key as Node)}`);
      const name = alias ? alias(k) : k;
      const field = join(path, name);
      if (!allowed.includes(name)) {
        const near = suggest(name, allowed);
        this.fail(pair.key as Node, join(path, k), `unknown field${near ? ` (did you mean "${near}"?)` : ''}; expected one of ${allowed.join(', ')}`);
      }
      const before = seen.get(name);
      if (before !== undefined) this.fail(pair.key as Node, field, `given twice (as "${before}" and "${k}")`);
      seen.set(name, k);
    }
  }

  /** The value under `key` (or a spelling `alias` maps to it), aliases resolved; "key:" with nothing after it is an error. */
  get(m: YAMLMap<unknown, unknown> | undefined, path: string, key: string, alias?: (k: string) => string): At {
    const pair = m?.items.find((p) => { const k = keyOf(p); return k !== undefined && (alias ? alias(k) : k) === key; });
    if (!pair) return undefined;
    const v = this.resolve(pair.value as Node | null);
    if (v === null || v === undefined || (isScalar(v) && v.value === null)) this.fail(pair.key as Node, join(path, key), 'has no value');
    return v;
  }

  /** The key's own node (for errors about the key, e.g. "not allowed together with …"). */
  keyNode(m: YAMLMap<unknown, unknown> | undefined, key: string, alias?: (k: string) => string): At {
    const pair = m?.items.find((p) => { const k = keyOf(p); return k !== undefined && (alias ? alias(k) : k) === key; });
    return pair?.key as Node | undefined;
  }

  // ---- scalars ----

  str(node: Node, path: string): string {
    if (!isScalar(node) || typeof node.value !== 'string' || node.value === '') this.fail(node, path, `expected a non-empty string, got ${describe(node)}`);
    return node.value;
  }

  bool(node: Node, path: string): boolean {
    if (!isScalar(node) || typeof node.value !== 'boolean') this.fail(node, path, `expected true or false, got ${describe(node)}`);
    return node.value;
  }

  /** A whole number (no range check). */
  int(node: Node, path: string): number {
    if (!isScalar(node) || typeof node.value !== 'number' || !Number.isSafeInteger(node.value)) this.fail(node, path, `expected a whole number, got ${describe(node)}`);
    return node.value;
  }

  positiveInt(node: Node, path: string): number {
    const ok = isScalar(node) && typeof node.value === 'number' && Number.isSafeInteger(node.value) && node.value > 0;
    if (!ok) this.fail(node, path, `must be a positive integer, got ${describe(node)}`);
    return (node as { value: number }).value;
  }

  positiveNumber(node: Node, path: string): number {
    const ok = isScalar(node) && typeof node.value === 'number' && Number.isFinite(node.value) && node.value > 0;
    if (!ok) this.fail(node, path, `must be a positive number, got ${describe(node)}`);
    return (node as { value: number }).value;
  }

  /** "2s", "500ms", …: whole milliseconds, more than zero. */
  duration(node: Node, path: string): number {
    const text = isScalar(node) && typeof node.value === 'string' ? node.value : undefined;
    const ms = text !== undefined ? parseDuration(text) : undefined;
    if (ms === undefined) {
      const bare = isScalar(node) && typeof node.value === 'number';
      this.fail(node, path, `expected a duration with a unit (${DURATION_EXAMPLES}), got ${describe(node)}${bare ? ` (write e.g. "${String((node as { value: number }).value)}s" or "${String((node as { value: number }).value)}ms")` : ''}`);
    }
    if (ms <= 0) this.fail(node, path, `must be longer than 0 (got ${JSON.stringify(text)})`);
    return ms;
  }

  /** A file or directory path; a relative one is relative to this file's directory. */
  path(node: Node, path: string): string {
    const p = this.str(node, path);
    return isAbsolute(p) ? p : resolvePath(dirname(this.file), p);
  }

  /** One string or a list of them (`underlay: 198.18.0.1` or `underlay: [198.18.0.1, "2001:db8::1"]`). */
  strings(node: Node, path: string): Array<{ value: string; at: Node }> {
    if (isSeq(node)) {
      const list = this.items(node);
      if (!list.length) this.fail(node, path, 'expected at least one entry');
      return list.map((n, i) => ({ value: this.str(n, `${path}[${i}]`), at: n }));
    }
    return [{ value: this.str(node, path), at: node }];
  }

  // ---- errors from validators that know only a field path ----

  /**
   * The node at a field path below `base` ("pools[2].prefix"), as far as it
   * can be followed; for placing an error a validator reported by field.
   * `alias` maps spellings as in checkKeys.
   */
  locate(base: Node | undefined, fieldPath: string, alias?: (k: string) => string): At {
    let node: At = base;
    for (const step of fieldPath.match(/[^.[\]]+|\[\d+\]/g) ?? []) {
      let next: At;
      if (step.startsWith('[') && isSeq(node)) next = this.resolve(node.items[Number(step.slice(1, -1))] as Node | null) ?? undefined;
      else if (isMap(node)) {
        const pair = node.items.find((p) => { const k = keyOf(p); return k !== undefined && (alias ? alias(k) : k) === (alias ? alias(step) : step); });
        next = pair ? (this.resolve(pair.value as Node | null) ?? (pair.key as Node)) : undefined;
      }
      if (!next) break;
      node = next;
    }
    return node;
  }

  /** The node an alias stands for; any other node as it is. */
  resolve(node: Node | null | undefined): Node | null | undefined {
    return isAlias(node) ? (node.resolve(this.doc) as Node | undefined) : node;
  }

  /** "FILE:LINE:COL: "; text without a file name (file '') says "line N: ". */
  where(offset: number | undefined): string {
    if (offset === undefined) return this.file ? `${this.file}: ` : '';
    const { line, col } = this.lc.linePos(offset);
    return this.file ? `${this.file}:${line}:${col}: ` : `line ${line}: `;
  }
}

const join = (path: string, key: string): string => (path ? `${path}.${key}` : key);

function keyOf(pair: { key: unknown }): string | undefined {
  const k = pair.key;
  return isScalar(k) && (typeof k.value === 'string' || typeof k.value === 'number') ? String(k.value) : undefined;
}

export function describe(node: Node | null | undefined): string {
  if (node === null || node === undefined) return 'nothing';
  if (isMap(node)) return 'a mapping';
  if (isSeq(node)) return 'a list';
  if (isScalar(node)) {
    if (node.value === null) return 'nothing';
    return typeof node.value === 'string' ? `the string ${quoteShort(node.value)}` : `${typeof node.value} ${String(node.value)}`;
  }
  return 'something else';
}

/** A value for an error message: never a whole file (a file that is no mapping parses as one long string). */
export function quoteShort(v: string, max = 40): string {
  return v.length <= max ? JSON.stringify(v) : `${JSON.stringify(v.slice(0, max))}… (${v.length} characters)`;
}
