/**
 * An event's workflow run: its status, then each step as a bar on the run's time axis (when it
 * started and for how long), steps that never started last.
 */
import { badge, card, el, facts, fmtMs, fmtTime, jsonBlock, ms, obj, text, timeEl, arr } from './dom.js';

/** @typedef {import('./types.js').RunState} RunState */
/** @typedef {import('./types.js').StepState} StepState */

/** @param {RunState | null | undefined} run */
export function runCard(run) {
  if (!run || typeof run !== 'object')
    return card('Workflow run', 'run', el('p', { class: 'empty' }, 'No workflow run for this event.'));
  const steps = Object.values(obj(run.steps)).filter((s) => s !== null && typeof s === 'object');
  steps.sort(byStart);
  const t0 = ms(run.started_at);
  const running = run.status === 'running';
  // The axis ends at the run's end (or now, while it runs), or at the last step's, whichever is later.
  const ends = steps.map((s) => ms(s.finished_at)).filter((t) => !Number.isNaN(t));
  const t1 = Math.max(ms(run.finished_at) || 0, ...ends, running ? Date.now() : 0);
  const span = Math.max(1, t1 - t0);
  const failure = obj(run.failure);
  return card(
    'Workflow run',
    'run',
    facts([
      ['Status', badge(run.status)],
      ['Workflow', run.workflow],
      ['Started', run.started_at ? timeEl(run.started_at) : undefined],
      ['Finished', run.finished_at ? timeEl(run.finished_at) : undefined],
      ['Took', run.finished_at ? fmtMs(ms(run.finished_at) - t0) : undefined],
      ['Deadline', run.deadline_at ? timeEl(run.deadline_at) : undefined],
      ['Nodes', arr(run.nodes).join(' → ')],
      [
        'Failure',
        failure.step || failure.message
          ? `${text(failure.step)}: ${text(failure.message)} (${text(failure.reason)})`
          : undefined,
      ],
    ]),
    el(
      'div',
      { class: 'steps' },
      steps.map((s) => stepRow(s, t0, span)),
    ),
  );
}

/** Started steps by start time, then the others by id. @param {StepState} a @param {StepState} b */
function byStart(a, b) {
  const x = ms(a.started_at);
  const y = ms(b.started_at);
  if (Number.isNaN(x) !== Number.isNaN(y)) return Number.isNaN(x) ? 1 : -1;
  return (Number.isNaN(x) ? 0 : x - y) || String(a.id).localeCompare(String(b.id));
}

/** @param {StepState} s @param {number} t0 the run's start @param {number} span the axis' length, ms */
function stepRow(s, t0, span) {
  const start = ms(s.started_at);
  const end = ms(s.finished_at) || (s.status === 'running' ? Date.now() : start);
  const bar = el('span', { class: `bar s-${String(s.status).replace(/[^a-z_]/g, '')}` });
  const placed = !Number.isNaN(start) && !Number.isNaN(t0);
  if (placed) {
    // Set through the CSSOM: the page's CSP allows no inline style attributes.
    bar.style.left = `${(100 * (start - t0)) / span}%`;
    bar.style.width = `${Math.max(0.3, (100 * ((Number.isNaN(end) ? start : end) - start)) / span)}%`;
  } else bar.hidden = true;
  return el(
    'div',
    { class: 'step', 'data-testid': 'step', 'data-step': s.id, 'data-status': s.status },
    el(
      'div',
      { class: 'step-head' },
      el('span', { class: 'step-id' }, text(s.id)),
      s.phase === 'on_failure' ? el('span', { class: 'chip' }, 'on_failure') : null,
      badge(s.status),
      el('span', { class: 'muted small' }, `${text(s.attempts)} attempt(s)`),
      el('span', { class: 'num' }, s.duration_ms !== undefined ? fmtMs(s.duration_ms) : ''),
      el('span', { class: 'muted small' }, placed ? `at +${fmtMs(start - t0)}` : ''),
      s.inputs !== undefined || s.outputs !== undefined
        ? jsonBlock('inputs, outputs', { inputs: s.inputs, outputs: s.outputs })
        : null,
    ),
    el('div', { class: 'track', title: `${fmtTime(s.started_at)} → ${fmtTime(s.finished_at)}` }, bar),
    s.error ? el('p', { class: 'error small' }, text(s.error)) : null,
  );
}
