/**
 * `lazarus match --event FILE [--config DIR] [--json]`: the rule that applies to an event with its
 * compiled parameters, or why none does. Exit 0 when a rule matches, 1 when none does, 2 when the
 * event or the configuration is invalid.
 */
import { loadConfig } from '../config/load.js';
import { readInput } from './input.js';
import { formatIssue } from '../config/source.js';
import type { CompiledRule } from '../config/types.js';
import { defaultCatalog } from '../controller/catalog.js';
import { parseEvent } from '../events/parse.js';
import { Matcher } from '../matching/matcher.js';
import type { Explanation } from '../matching/matcher.js';
import { show, table } from './format.js';

export async function matchCommand(
  dir: string,
  eventFile: string,
  json: boolean,
  out: NodeJS.WritableStream,
): Promise<number> {
  const loaded = await loadConfig(dir, defaultCatalog());
  if (!loaded.ok) {
    for (const issue of loaded.issues) out.write(formatIssue(issue) + '\n');
    out.write(`\nthe configuration in ${dir} is invalid; run lazarus validate\n`);
    return 2;
  }
  const bytes = await readInput(eventFile);
  const parsed = parseEvent(bytes, { maxBytes: loaded.config.region.events.maxBytes });
  if (!parsed.ok) {
    if (json) out.write(JSON.stringify({ rejected: parsed.rejection }, null, 2) + '\n');
    else {
      out.write(`${eventFile}: rejected (${parsed.rejection.code}): ${parsed.rejection.message}\n`);
    }
    return 2;
  }
  const matcher = new Matcher(loaded.config.services);
  const explanation = matcher.explain(parsed.event);
  const service = loaded.config.services.get(parsed.event.service);
  if (json) {
    out.write(
      JSON.stringify(
        {
          event: parsed.event,
          ...explanation,
          matched: explanation.matched === undefined ? null : ruleJson(explanation.matched),
          parameters: service?.parameters.values ?? null,
        },
        null,
        2,
      ) + '\n',
    );
  } else {
    out.write(describe(explanation, parsed.event.id, parsed.event.type) + '\n');
    if (explanation.matched !== undefined && service !== undefined) {
      out.write('\nservice parameters:\n');
      out.write(
        table(
          Object.entries(service.parameters.values).map(([k, v]) => [k, show(v.value), `(${v.source})`]),
          '  ',
        ) + '\n',
      );
    }
  }
  return explanation.matched === undefined ? 1 : 0;
}

function describe(e: Explanation, id: string, type: string): string {
  const lines = [`event ${id} (${type}) for service ${e.service}`];
  if (!e.subscribed) {
    lines.push(
      `no rule: service "${e.service}" has not opted into any profile; the event escalates (no_rule)`,
    );
    return lines.join('\n');
  }
  lines.push(`service ${e.service} is on profile ${e.profile ?? '?'}; its rules, in order:`);
  lines.push(
    table(
      e.considered.map((v) => [
        v.matched ? (v.rule === e.matched?.name ? 'MATCH' : 'match (later)') : 'no',
        v.rule,
        v.miss === undefined
          ? v.file
          : `${v.miss.criterion}: expected ${v.miss.expected}, got ${v.miss.actual ?? '(absent)'}`,
      ]),
      '  ',
    ),
  );
  const rule = e.matched;
  if (rule === undefined) {
    lines.push('no rule matched: the event escalates (no_rule)');
    return lines.join('\n');
  }
  lines.push(
    '',
    `matched ${rule.id} (${rule.file}) → workflow ${rule.action.workflow}, lock ${rule.lock}`,
    'checks:',
  );
  lines.push(
    table(
      rule.checks.map((c) => [
        c.name,
        c.threshold === undefined ? '' : `threshold ${show(c.threshold.value)} (${c.threshold.source})`,
        Object.keys(c.options).length === 0 ? '' : JSON.stringify(c.options),
      ]),
      '  ',
    ),
  );
  if (Object.keys(rule.action.inputs).length > 0) lines.push(`inputs: ${JSON.stringify(rule.action.inputs)}`);
  return lines.join('\n');
}

function ruleJson(rule: CompiledRule): unknown {
  return {
    id: rule.id,
    name: rule.name,
    file: rule.file,
    criteria: rule.criteriaText,
    checks: rule.checks,
    action: rule.action,
    lock: rule.lock,
  };
}
