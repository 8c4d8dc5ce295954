import { htmlText } from '../handlers/shared/printable';

/** The parts of an Amazon States Language definition the graph reads. */
interface AslState {
  Type: string;
  Next?: string;
  Default?: string;
  Choices?: { Next?: string }[];
  Catch?: { Next?: string }[];
}
export interface AslDefinition {
  StartAt: string;
  States: Record<string, AslState>;
}

export interface GraphNode {
  name: string;
  type: string;
  x: number;
  y: number;
  width: number;
}
export interface GraphEdge {
  from: string;
  to: string;
  kind: 'next' | 'choice' | 'catch';
  /** Points back up the graph (a loop), drawn around the side. */
  back: boolean;
}
export interface GraphLayout {
  nodes: Map<string, GraphNode>;
  edges: GraphEdge[];
  width: number;
  height: number;
}

const NODE_HEIGHT = 30;
const RANK_GAP = 62;
const NODE_GAP = 28;
const MARGIN = 24;
const LOOP_ROOM = 90;

function edgesOf(definition: AslDefinition): Omit<GraphEdge, 'back'>[] {
  const edges: Omit<GraphEdge, 'back'>[] = [];
  for (const [name, state] of Object.entries(definition.States)) {
    const add = (to: string | undefined, kind: GraphEdge['kind']) => {
      if (to && definition.States[to] && !edges.some((e) => e.from === name && e.to === to)) {
        edges.push({ from: name, to, kind });
      }
    };
    add(state.Next, 'next');
    for (const choice of state.Choices ?? []) add(choice.Next, 'choice');
    add(state.Default, 'choice');
    for (const handler of state.Catch ?? []) add(handler.Next, 'catch');
  }
  return edges;
}

/**
 * Lay the state machine out top to bottom: each state's row is its longest distance from the
 * start (loops drawn as back edges), and states in a row are ordered to keep edges short.
 */
export function layoutGraph(definition: AslDefinition): GraphLayout {
  const names = Object.keys(definition.States);
  const raw = edgesOf(definition);
  const out = new Map<string, string[]>(names.map((name) => [name, []]));
  for (const edge of raw) out.get(edge.from)?.push(edge.to);

  // Depth-first from the start: an edge to a state still on the stack closes a loop.
  const order: string[] = [];
  const finished: string[] = [];
  const onStack = new Set<string>();
  const seen = new Set<string>();
  const back = new Set<string>();
  const visit = (name: string) => {
    seen.add(name);
    onStack.add(name);
    order.push(name);
    for (const next of out.get(name) ?? []) {
      if (onStack.has(next)) back.add(`${name}\u0000${next}`);
      else if (!seen.has(next)) visit(next);
    }
    onStack.delete(name);
    finished.push(name);
  };
  for (const start of [definition.StartAt, ...names]) if (!seen.has(start)) visit(start);
  const edges = raw.map((edge) => ({ ...edge, back: back.has(`${edge.from}\u0000${edge.to}`) }));
  const forward = edges.filter((edge) => !edge.back);

  const rank = new Map<string, number>(names.map((name) => [name, 0]));
  for (const name of finished.reverse()) {
    for (const edge of forward) {
      if (edge.from === name) rank.set(edge.to, Math.max(rank.get(edge.to) ?? 0, (rank.get(name) ?? 0) + 1));
    }
  }

  const rows: string[][] = [];
  for (const name of order) (rows[rank.get(name) ?? 0] ??= []).push(name);
  const position = new Map<string, number>();
  const place = () => rows.forEach((row) => row.forEach((name, index) => position.set(name, index)));
  place();
  // A few barycentre sweeps: order each row by where its parents sit.
  for (let sweep = 0; sweep < 4; sweep += 1) {
    for (const row of rows.slice(1)) {
      const weight = (name: string) => {
        const parents = forward.filter((edge) => edge.to === name).map((edge) => position.get(edge.from) ?? 0);
        return parents.length > 0 ? parents.reduce((a, b) => a + b, 0) / parents.length : (position.get(name) ?? 0);
      };
      row.sort((a, b) => weight(a) - weight(b));
      place();
    }
  }

  const width = (name: string) => Math.max(110, Math.round(name.length * 7.4) + 26);
  const rowWidths = rows.map((row) => row.reduce((sum, name) => sum + width(name), 0) + NODE_GAP * (row.length - 1));
  const widest = Math.max(...rowWidths, 0);
  const nodes = new Map<string, GraphNode>();
  rows.forEach((row, r) => {
    let x = MARGIN + (widest - (rowWidths[r] ?? 0)) / 2;
    for (const name of row) {
      nodes.set(name, {
        name,
        type: definition.States[name]?.Type ?? 'Task',
        x,
        y: MARGIN + r * RANK_GAP,
        width: width(name),
      });
      x += width(name) + NODE_GAP;
    }
  });
  return {
    nodes,
    edges,
    width: widest + 2 * MARGIN + LOOP_ROOM,
    height: MARGIN * 2 + (rows.length - 1) * RANK_GAP + NODE_HEIGHT,
  };
}

/**
 * The layout as inline SVG. `visited` states and `taken` transitions (`from\u0000to`) are
 * highlighted; `failed` states get a red outline, `current` an amber one, and `failedEdges`
 * (transitions taken out of a failed step, such as a Catch) are drawn red.
 */
export function graphSvg(
  layout: GraphLayout,
  path: { visited: Set<string>; taken: Set<string>; failed: Set<string>; failedEdges?: Set<string>; current?: string },
): string {
  const parts: string[] = [];
  const sorted = [...layout.edges].sort(
    (a, b) => Number(path.taken.has(`${a.from}\u0000${a.to}`)) - Number(path.taken.has(`${b.from}\u0000${b.to}`)),
  );
  for (const edge of sorted) {
    const from = layout.nodes.get(edge.from);
    const to = layout.nodes.get(edge.to);
    if (!from || !to) continue;
    const taken = path.taken.has(`${edge.from}\u0000${edge.to}`);
    const failed = path.failedEdges?.has(`${edge.from}\u0000${edge.to}`) ?? false;
    let d: string;
    if (edge.back) {
      const x1 = from.x + from.width;
      const y1 = from.y + NODE_HEIGHT / 2;
      const x2 = to.x + to.width;
      const y2 = to.y + NODE_HEIGHT / 2;
      const bulge = Math.max(x1, x2) + 50;
      d = `M${x1},${y1} C${bulge},${y1} ${bulge},${y2} ${x2 + 4},${y2}`;
    } else {
      const x1 = from.x + from.width / 2;
      const y1 = from.y + NODE_HEIGHT;
      const x2 = to.x + to.width / 2;
      const y2 = to.y - 4;
      const middle = (y1 + y2) / 2;
      d = `M${x1},${y1} C${x1},${middle} ${x2},${middle} ${x2},${y2}`;
    }
    const classes = ['edge', edge.kind, taken ? 'taken' : '', failed ? 'failed' : ''].filter(Boolean).join(' ');
    const arrow = failed ? 'arrow-failed' : taken ? 'arrow-taken' : 'arrow';
    parts.push(`<path class="${classes}" d="${d}" marker-end="url(#${arrow})"/>`);
  }
  for (const node of layout.nodes.values()) {
    const classes = [
      'node',
      node.type.toLowerCase(),
      path.visited.has(node.name) ? 'visited' : '',
      path.failed.has(node.name) ? 'failed' : '',
      path.current === node.name ? 'current' : '',
    ]
      .filter(Boolean)
      .join(' ');
    const radius = node.type === 'Choice' ? 15 : 5;
    parts.push(
      `<g class="${classes}"><title>${htmlText(`${node.name} (${node.type})`)}</title>` +
        `<rect x="${node.x}" y="${node.y}" width="${node.width}" height="${NODE_HEIGHT}" rx="${radius}"/>` +
        `<text x="${node.x + node.width / 2}" y="${node.y + NODE_HEIGHT / 2 + 4}">${htmlText(node.name)}</text></g>`,
    );
  }
  const marker = (id: string) =>
    `<marker id="${id}" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="9" markerHeight="9" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"/></marker>`;
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="graph-title" viewBox="0 0 ${layout.width} ${layout.height}" width="${layout.width}" height="${layout.height}">` +
    `<title id="graph-title">State machine graph; the states and transitions this execution took are highlighted</title>` +
    `<defs>${marker('arrow')}${marker('arrow-taken')}${marker('arrow-failed')}</defs>${parts.join('')}</svg>`
  );
}
