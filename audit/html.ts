import { graphSvg, layoutGraph, type AslDefinition } from './graph';
import { htmlText as escapeHtml } from '../handlers/shared/printable';
import {
  completeness,
  duration,
  headline,
  manifestation,
  signatureSummary,
  signInLines,
  stateLabel,
  utc,
  verdict,
} from './render';
import type { Replay } from './replay';

const STYLE = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#111827;background:#fff}
main{max-width:1200px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 12px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #e5e7eb;padding-bottom:4px}
table{border-collapse:collapse;width:100%}th,td{text-align:left;vertical-align:top;padding:5px 8px;border-bottom:1px solid #e5e7eb}
th{background:#f3f4f6;font-weight:600}.facts th{width:120px;background:none}
td.mono,td.took{white-space:nowrap}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12.5px}code{word-break:break-all}
.banner{padding:10px 14px;border-radius:6px;margin:12px 0;font-weight:600}
.ok{background:#ecfdf5;border:1px solid #047857;color:#065f46}.bad{background:#fef2f2;border:1px solid #b91c1c;color:#7f1d1d}
.warn{background:#fffbeb;border:1px solid #b45309;color:#78350f}
.result-failed{color:#b91c1c;font-weight:600}.result-aborted{color:#b45309}.result-running{color:#b45309;font-weight:600}
.graph{overflow-x:auto;border:1px solid #e5e7eb;border-radius:6px;padding:8px;background:#fafafa}
.edge{fill:none;stroke:#cbd5e1;stroke-width:1.3}.edge.catch{stroke-dasharray:5 4}.edge.taken{stroke:#1d4ed8;stroke-width:2.6}
.edge.failed{stroke:#b91c1c;stroke-width:2.6}
#arrow path{fill:#cbd5e1}#arrow-taken path{fill:#1d4ed8}#arrow-failed path{fill:#b91c1c}
.node rect{fill:#fff;stroke:#cbd5e1;stroke-width:1.2}.node text{font-size:12px;text-anchor:middle;fill:#6b7280}
.node.visited rect{fill:#dbeafe;stroke:#1d4ed8;stroke-width:2}.node.visited text{fill:#111827;font-weight:600}
.node.failed rect{stroke:#b91c1c;fill:#fee2e2}.node.current rect{stroke:#b45309;fill:#fef3c7}
.legend span{display:inline-block;margin-right:16px}.sig{border:1px solid #d1d5db;border-radius:6px;padding:10px 14px;margin:8px 0}
footer{margin-top:32px;color:#4b5563;font-size:12px}
`;

/**
 * States visited, transitions taken (and which left a failed step), where it failed and where
 * it stands, from the timeline. A transition joins a step to the one before it on the same
 * branch (same enclosing state and Map item), so a Map's or Parallel's inner states never
 * make up edges between unrelated states.
 */
export function pathOf(replay: Replay) {
  const visited = new Set(replay.steps.map((step) => step.state));
  const taken = new Set<string>();
  const failedEdges = new Set<string>();
  const lastOnBranch = new Map<string, Replay['steps'][number]>();
  for (const step of replay.steps) {
    const branch = `${step.parent ?? ''}\u0000${step.iteration ?? ''}`;
    const before = lastOnBranch.get(branch);
    if (before) {
      const edge = `${before.state}\u0000${step.state}`;
      taken.add(edge);
      if (before.result === 'failed') failedEdges.add(edge);
    }
    lastOnBranch.set(branch, step);
  }
  const failed = new Set(replay.steps.filter((step) => step.result === 'failed').map((step) => step.state));
  const last = replay.steps.at(-1);
  return { visited, taken, failed, failedEdges, current: last?.result === 'running' ? last.state : undefined };
}

function graph(replay: Replay, definition: string | undefined): string {
  let parsed: AslDefinition | undefined;
  try {
    parsed = definition ? (JSON.parse(definition) as AslDefinition) : undefined;
  } catch {
    parsed = undefined;
  }
  if (!parsed?.States)
    return '<p class="banner warn">The record holds no state machine definition; the graph cannot be drawn.</p>';
  return (
    `<p class="legend"><span>Blue: states and transitions this execution took</span><span>Dashed: error paths (Catch)</span>` +
    `<span>Red outline: a step that failed</span><span>Red arrow: the transition out of a failed step</span></p><div class="graph">${graphSvg(layoutGraph(parsed), pathOf(replay))}</div>`
  );
}

/**
 * The replay as one self-contained HTML file: no script, no network, styles inline. The state
 * graph with the path taken, the timeline, every signature with its manifestation, the outcome.
 */
export function renderHtml(replay: Replay, definition: string | undefined, generatedAt: Date = new Date()): string {
  const signaturesOk = replay.signatures.every((signature) => signature.verified);
  const banner = !replay.complete
    ? `<p class="banner bad" role="alert">Incomplete history: ${escapeHtml(replay.gaps.join('; '))}</p>`
    : !signaturesOk
      ? '<p class="banner bad" role="alert">A signature in this history does not verify; see Signatures.</p>'
      : `<p class="banner ok">History complete (${replay.eventCount} events); signatures: ${signatureSummary(replay)}.</p>`;
  const facts = headline(replay)
    .map(([label, value]) => `<tr><th scope="row">${escapeHtml(label)}</th><td>${escapeHtml(value)}</td></tr>`)
    .join('');
  const redriven = replay.redriveCount > 0;
  const rows = replay.steps
    .map(
      (step, index) =>
        `<tr><td>${index + 1}</td>${redriven ? `<td>${step.attempt}</td>` : ''}<td class="mono">${escapeHtml(utc(step.enteredAt))}</td>` +
        `<td class="mono">${escapeHtml(utc(step.exitedAt))}</td>` +
        `<td>${escapeHtml(stateLabel(step, '\u00a0\u00a0\u00a0\u00a0'))}</td><td class="result-${step.result}">${step.result}</td><td class="took">${duration(step.durationMs)}</td>` +
        `<td>${escapeHtml(step.did)}${step.errors.length > 0 ? `<br><small>${step.errors.map(escapeHtml).join('<br>')}</small>` : ''}</td></tr>`,
    )
    .join('');
  const signatures =
    replay.signatures.length === 0
      ? '<p>No signatures in this history.</p>'
      : replay.signatures
          .map(
            (signature) =>
              // The verdict leads the block, before any text a signer wrote.
              `<div class="sig"><strong>${escapeHtml(signature.state)}:</strong> <span class="${signature.verified ? '' : 'result-failed'}">${escapeHtml(verdict(signature))}</span>` +
              `<br>Signed: ${escapeHtml(manifestation(signature))}` +
              `<br>Reason: ${escapeHtml(signature.reason)}<br>Keys: <code>${escapeHtml(signature.keyIds.join(', '))}</code>; approval <code>${escapeHtml(signature.approvalId)}</code>` +
              `<br>SHA-256 <code>${escapeHtml(signature.digest)}</code></div>`,
          )
          .join('');
  const signIns =
    replay.signIns.length === 0
      ? '<p>No failed sign-ins.</p>'
      : signInLines(replay)
          .map(
            ({ approval, failures }) =>
              `<div class="sig">${escapeHtml(approval)}${failures.map((failure) => `<br><code>${escapeHtml(failure)}</code>`).join('')}</div>`,
          )
          .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>keyrot audit: ${escapeHtml(replay.name)} (${escapeHtml(replay.outcome)})</title>
<style>${STYLE}</style></head>
<body><main>
<h1>Rotation ${escapeHtml(replay.user ?? replay.name)}: ${escapeHtml(replay.outcome)}</h1>
${banner}
<table class="facts">${facts}</table>
<h2>Path taken</h2>
${graph(replay, definition)}
<h2>Timeline</h2>
<table><thead><tr><th>#</th>${redriven ? '<th>Run</th>' : ''}<th>Time (UTC)</th><th>Exited (UTC)</th><th>State</th><th>Result</th><th>Took</th><th>What it did</th></tr></thead><tbody>${rows}</tbody></table>
<h2>Signatures</h2>
${signatures}
<h2>Failed sign-ins</h2>
${signIns}
<footer>Generated by keyrot audit at ${escapeHtml(utc(generatedAt.toISOString()))} from ${escapeHtml(completeness(replay))}. Key ids only; secret access keys never enter the history.</footer>
</main></body></html>
`;
}
