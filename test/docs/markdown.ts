// What a guide's fenced blocks and doc-test markers say, for the test that
// runs the guide (test/docs/deploy.test.ts). The conventions, written in the
// guide's own source (docs/deploy.md, top):
//
//   ```sh            first line "# on HOST[, HOST…]": run, in order, on each host
//   ```yaml          first line "# on HOST[, HOST…]: /path": written to that path on each host
//   ```ini           first line "# excerpt of FILE": every line is in FILE, in order
//   ```text          output shown for reading, not run
//   <!-- doc-test: not run: REASON -->         before a block: it is not run (the test lists these)
//   <!-- doc-test: wait-for HOST: COMMAND -->  poll COMMAND on HOST until it succeeds (90 s)
//   <!-- doc-test: check NAME -->              the test's own assertion NAME runs here
//
// Any other fenced block is an error, so nothing in the guide escapes the test.

export type Step =
  | { kind: 'sh'; hosts: string[]; text: string; line: number }
  | { kind: 'file'; hosts: string[]; path: string; text: string; line: number }
  | { kind: 'excerpt'; of: string; text: string; line: number }
  | { kind: 'not-run'; reason: string; lang: string; text: string; line: number }
  | { kind: 'output'; text: string; line: number }
  | { kind: 'wait-for'; hosts: string[]; command: string; line: number }
  | { kind: 'check'; name: string; line: number };

const hostList = (s: string): string[] => s.split(/\s*,\s*|\s+and\s+/).map((h) => h.trim()).filter(Boolean);

export function parseGuide(text: string, file: string): Step[] {
  const lines = text.split('\n');
  const steps: Step[] = [];
  let notRun: string | undefined;
  const fail = (n: number, why: string): never => { throw new Error(`${file}:${n}: ${why}`); };
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    const n = i + 1;
    const marker = /^<!--\s*doc-test:\s*(.*?)\s*-->\s*$/.exec(l);
    if (marker) {
      const m = marker[1]!;
      let x: RegExpExecArray | null;
      if ((x = /^not run:\s*(.+)$/.exec(m))) notRun = x[1]!;
      else if ((x = /^wait-for\s+([^:]+):\s*(.+)$/.exec(m))) steps.push({ kind: 'wait-for', hosts: hostList(x[1]!), command: x[2]!, line: n });
      else if ((x = /^check\s+([\w-]+)$/.exec(m))) steps.push({ kind: 'check', name: x[1]!, line: n });
      else if (!/^(about|conventions)\b/.test(m)) fail(n, `unknown doc-test marker: ${m}`);
      continue;
    }
    if (/^<!--\s*doc-test/.test(l)) fail(n, 'a doc-test marker must be one line: <!-- doc-test: … -->');
    const fence = /^(\s*)```(\S*)\s*$/.exec(l);
    if (!fence) {
      if (l.trim() && notRun !== undefined) fail(n, '"not run" must come right before its block');
      continue;
    }
    const indent = fence[1]!.length;
    const lang = fence[2]!;
    const body: string[] = [];
    for (i++; i < lines.length && !/^\s*```\s*$/.test(lines[i]!); i++) body.push(lines[i]!.slice(indent));
    if (i >= lines.length) fail(n, 'unclosed block');
    const text = body.join('\n');
    const first = body[0] ?? '';
    if (notRun !== undefined) {
      steps.push({ kind: 'not-run', reason: notRun, lang, text, line: n });
      notRun = undefined;
      continue;
    }
    let x: RegExpExecArray | null;
    if (lang === 'text') steps.push({ kind: 'output', text, line: n });
    else if (lang === 'sh' && (x = /^# on ([^:]+)$/.exec(first))) steps.push({ kind: 'sh', hosts: hostList(x[1]!), text, line: n });
    else if (lang === 'yaml' && (x = /^# on ([^:]+):\s*(\/\S+)$/.exec(first))) steps.push({ kind: 'file', hosts: hostList(x[1]!), path: x[2]!, text: `${text}\n`, line: n });
    else if (lang === 'ini' && (x = /^# excerpt of (\S+)$/.exec(first))) steps.push({ kind: 'excerpt', of: x[1]!, text: body.slice(1).join('\n'), line: n });
    else fail(n, `a \`\`\`${lang} block that is neither run (first line "# on HOST" for sh, "# on HOST: /path" for yaml), an excerpt ("# excerpt of FILE" for ini), output (text) nor marked <!-- doc-test: not run: … -->`);
  }
  return steps;
}

/** Does every line of `excerpt` occur in `file`'s text, in the same order? */
export function isExcerpt(excerpt: string, file: string): boolean {
  const lines = file.split('\n');
  let at = 0;
  for (const l of excerpt.split('\n')) {
    if (l.trim() === '…' || l.trim() === '...') continue;
    const i = lines.indexOf(l, at);
    if (i < 0) return false;
    at = i + 1;
  }
  return true;
}

/** The rows of the first markdown table after `heading` (cells trimmed, header row first, separator dropped). */
export function tableAfter(text: string, heading: string): string[][] {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.replace(/^#+\s*/, '') === heading && l.startsWith('#'));
  if (start < 0) throw new Error(`no heading "${heading}"`);
  let i = start + 1;
  while (i < lines.length && !lines[i]!.startsWith('|')) {
    if (lines[i]!.startsWith('#')) throw new Error(`no table under "${heading}"`);
    i++;
  }
  const rows: string[][] = [];
  for (; i < lines.length && lines[i]!.startsWith('|'); i++) {
    const cells = lines[i]!.replace(/^\||\|\s*$/g, '').split('|').map((c) => c.trim());
    if (cells.every((c) => /^:?-+:?$/.test(c))) continue;
    rows.push(cells);
  }
  return rows;
}
