/**
 * A strict reader of the Prometheus text exposition format (0.0.4), for tests: it checks what a
 * scraper relies on and fails the test with the line at fault.
 */
import { strict as assert } from 'node:assert';

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Family {
  readonly name: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  help?: string;
  readonly samples: Sample[];
}

export interface Exposition {
  readonly families: ReadonlyMap<string, Family>;
  /** The sum of the samples named `name` whose labels include `labels`; 0 when there is none. */
  value(name: string, labels?: Readonly<Record<string, string>>): number;
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const NUMBER = /^[+-]?(?:Inf|NaN|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)$/;

/**
 * Parses the exposition and checks what a scraper relies on: every line a comment, HELP, TYPE or a
 * sample; a family's HELP and TYPE once each and before its samples; each family's samples in one
 * block; no series twice; counters not negative; each histogram's buckets cumulative, ending in
 * `+Inf`, which equals its `_count`, with a `_sum`.
 */
export function parseExposition(text: string): Exposition {
  assert.ok(text.endsWith('\n'), 'the exposition ends with a newline');
  const families = new Map<string, Family>();
  const series = new Set<string>();
  let current: Family | undefined;
  const open = (name: string, where: string): Family => {
    let family = families.get(name);
    if (family === undefined) {
      family = { name, type: 'untyped', samples: [] };
      families.set(name, family);
      current = family;
    }
    assert.equal(current, family, `${where}: ${name} is split into two blocks`);
    return family;
  };

  for (const [i, line] of text.slice(0, -1).split('\n').entries()) {
    const where = `line ${i + 1} ${JSON.stringify(line)}`;
    if (line === '') continue;
    if (line.startsWith('#')) {
      const meta = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
      if (meta === null) continue; // a plain comment
      const [, kind, name = '', rest = ''] = meta;
      assert.match(name, METRIC_NAME, where);
      const family = open(name, where);
      assert.equal(family.samples.length, 0, `${where}: metadata after samples`);
      if (kind === 'HELP') {
        assert.equal(family.help, undefined, `${where}: a second HELP`);
        assert.ok(!/\\[^\\n]/.test(rest.replace(/\\\\/g, '')), `${where}: HELP escapes only \\\\ and \\n`);
        family.help = rest;
      } else {
        assert.match(rest, /^(counter|gauge|histogram|summary|untyped)$/, where);
        assert.equal(family.type, 'untyped', `${where}: a second TYPE`);
        family.type = rest as Family['type'];
      }
      continue;
    }
    const sample = parseSample(line, where);
    const family = open(familyName(sample.name, families), where);
    const key = `${sample.name}{${Object.entries(sample.labels)
      .sort(([x], [y]) => (x < y ? -1 : 1))
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
      .join(',')}}`;
    assert.ok(!series.has(key), `${where}: series ${key} twice`);
    series.add(key);
    if (family.type === 'counter') assert.ok(sample.value >= 0, `${where}: a negative counter`);
    family.samples.push(sample);
  }
  for (const family of families.values()) if (family.type === 'histogram') checkHistogram(family);

  return {
    families,
    value(name, labels = {}) {
      let sum = 0;
      for (const family of families.values())
        for (const s of family.samples)
          if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) sum += s.value;
      return sum;
    },
  };
}

/** The family a sample belongs to: its own name, or a histogram's or summary's without the suffix. */
function familyName(name: string, families: ReadonlyMap<string, Family>): string {
  const base = /^(.*)_(bucket|sum|count)$/.exec(name);
  if (base !== null) {
    const family = families.get(base[1] ?? '');
    if (family?.type === 'histogram' || (family?.type === 'summary' && base[2] !== 'bucket'))
      return family.name;
  }
  return name;
}

function parseSample(line: string, where: string): Sample {
  const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)?.[0];
  assert.ok(name !== undefined, `${where}: no metric name`);
  let at = name.length;
  const labels: Record<string, string> = {};
  if (line[at] === '{') {
    at++;
    while (line[at] !== '}') {
      const label = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(line.slice(at))?.[0];
      assert.ok(label !== undefined && LABEL_NAME.test(label), `${where}: a label name at ${at}`);
      at += label.length;
      assert.equal(line.slice(at, at + 2), '="', `${where}: ="… after ${label}`);
      at += 2;
      let value = '';
      for (;;) {
        const c = line[at];
        assert.ok(c !== undefined, `${where}: an unterminated label value`);
        at++;
        if (c === '"') break;
        if (c === '\\') {
          const e = line[at++];
          assert.ok(e === '\\' || e === '"' || e === 'n', `${where}: escape \\${String(e)}`);
          value += e === 'n' ? '\n' : e;
        } else value += c;
      }
      assert.ok(!(label in labels), `${where}: label ${label} twice`);
      labels[label] = value;
      if (line[at] === ',') at++;
      else assert.equal(line[at], '}', `${where}: , or } after a label`);
    }
    at++;
  }
  const rest = line.slice(at).split(' ');
  assert.equal(rest[0], '', `${where}: one space before the value`);
  assert.ok(rest.length === 2 || rest.length === 3, `${where}: value [timestamp]`);
  const text = rest[1] ?? '';
  assert.match(text, NUMBER, `${where}: the value`);
  if (rest.length === 3) assert.match(rest[2] ?? '', /^-?[0-9]+$/, `${where}: the timestamp`);
  const value = /^[+-]?Inf$/.test(text) ? (text.startsWith('-') ? -Infinity : Infinity) : Number(text);
  return { name, labels, value };
}

function checkHistogram(family: Family): void {
  const groups = new Map<string, { buckets: [number, number][]; sum?: number; count?: number }>();
  for (const s of family.samples) {
    const { le, ...rest } = s.labels;
    const key = JSON.stringify(Object.entries(rest).sort(([x], [y]) => (x < y ? -1 : 1)));
    const group = groups.get(key) ?? { buckets: [] };
    groups.set(key, group);
    if (s.name === `${family.name}_bucket`) {
      assert.ok(le !== undefined && NUMBER.test(le), `${family.name}: a bucket without a numeric le`);
      group.buckets.push([/^\+?Inf$/.test(le) ? Infinity : Number(le), s.value]);
    } else if (s.name === `${family.name}_sum`) group.sum = s.value;
    else if (s.name === `${family.name}_count`) group.count = s.value;
    else assert.fail(`${s.name} in histogram ${family.name}`);
  }
  for (const [labels, g] of groups) {
    const what = `${family.name}${labels}`;
    assert.ok(
      g.buckets.length > 0 && g.sum !== undefined && g.count !== undefined,
      `${what}: buckets, _sum, _count`,
    );
    for (let i = 1; i < g.buckets.length; i++) {
      assert.ok(g.buckets[i - 1]![0] < g.buckets[i]![0], `${what}: le ascending`);
      assert.ok(g.buckets[i - 1]![1] <= g.buckets[i]![1], `${what}: cumulative buckets`);
    }
    const last = g.buckets.at(-1)!;
    assert.equal(last[0], Infinity, `${what}: a +Inf bucket`);
    assert.equal(last[1], g.count, `${what}: +Inf equals _count`);
  }
}
