import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { formatDuration, parseDuration } from '../../../src/common/duration.js';
import {
  TemplateSyntaxError,
  evaluateCondition,
  findRefs,
  parseCondition,
  parseTemplate,
  render,
} from '../../../src/common/template.js';

describe('durations', () => {
  test('units and sums', () => {
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('30s'), 30_000);
    assert.equal(parseDuration('1h30m'), 5_400_000);
    assert.equal(parseDuration('2d'), 172_800_000);
    for (const bad of ['', '30', '1 hour', '-5s', '5S', 'm5'])
      assert.equal(parseDuration(bad), undefined, bad);
    assert.equal(formatDuration(5_400_000), '1h30m');
    assert.equal(parseDuration(formatDuration(93_784_005)), 93_784_005);
  });
});

describe('templates', () => {
  test('parts, references and syntax errors', () => {
    assert.deepEqual(parseTemplate('{{ region.orchestrator_url }}/v1/lb'), [
      { ref: ['region', 'orchestrator_url'] },
      { text: '/v1/lb' },
    ]);
    assert.throws(() => parseTemplate('{{ event.host'), TemplateSyntaxError);
    assert.throws(() => parseTemplate('{{ event host }}'), TemplateSyntaxError);
  });

  test('findRefs walks nested inputs and reports where each reference is', () => {
    const errors: string[] = [];
    const refs = findRefs(
      { body: { host: '{{ event.host }}', list: ['x', '{{ steps.boot.outputs.id }}'] }, bad: '{{' },
      (at, m) => errors.push(`${at.join('.')}: ${m}`),
    );
    assert.deepEqual(
      refs.map((r) => [r.at.join('.'), r.ref.join('.')]),
      [
        ['body.host', 'event.host'],
        ['body.list.1', 'steps.boot.outputs.id'],
      ],
    );
    assert.equal(errors.length, 1);
    assert.match(errors[0] ?? '', /^bad: /);
  });

  test('render keeps the type of a lone reference and interpolates text otherwise', () => {
    const context = {
      event: { host: 'h1', data: { n: 3 } },
      steps: { boot: { outputs: { body: { ok: true } } } },
    };
    assert.equal(render('{{ event.data.n }}', context), 3);
    assert.equal(render('n={{ event.data.n }} on {{ event.host }}', context), 'n=3 on h1');
    assert.deepEqual(render({ a: ['{{ steps.boot.outputs.body }}'] }, context), { a: [{ ok: true }] });
    assert.equal(render('{{ event.missing }}', context), undefined);
  });

  test('conditions', () => {
    const context = {
      event: { incident_key: 'PD-1' },
      steps: { boot: { status: 'succeeded', outputs: { status: 201 } } },
    };
    assert.equal(evaluateCondition(parseCondition('event.incident_key'), context), true);
    assert.equal(evaluateCondition(parseCondition('not event.incident_key'), context), false);
    assert.equal(evaluateCondition(parseCondition('steps.boot.outputs.status == 201'), context), true);
    assert.equal(evaluateCondition(parseCondition('steps.boot.status != "succeeded"'), context), false);
    assert.equal(evaluateCondition(parseCondition('{{ event.nothing }}'), context), false);
    assert.throws(() => parseCondition('event.host > 3'), TemplateSyntaxError);
    assert.throws(() => parseCondition('not event.host == 3'), TemplateSyntaxError);
  });
});
