import { flat, Unconvertible, type Cond, type Path } from './detection.js';
import { SIGMA_FIELDS } from './fields.js';

// Sigma correlation rules (SigmaHQ sigma-specification, correlation rules) ->
// connaudit stateful rule parameters:
//   event_count      -> threshold    (count >= N per group within the window)
//   value_count      -> value_count  (distinct values of `field` >= N per group)
//   temporal_ordered -> sequence     (the rules' events in order, same group)
//   temporal         -> one sequence per order of the rules (up to 3 rules),
//                       because connaudit sequences are ordered and the Sigma
//                       type allows any order.
// connaudit windows slide over event time, which is what the specification
// asks for ("should not be restricted to boundaries").

export interface Correlation {
  type?: unknown;
  rules?: unknown;
  'group-by'?: unknown;
  timespan?: unknown;
  condition?: unknown;
  aliases?: unknown;
}

export interface Referenced {
  ref: string;
  cond: Cond;
}

/** One connaudit rule body (everything but the metadata); `suffix` names the variant when one Sigma rule becomes several. */
export interface Body {
  suffix: string;
  params: Record<string, unknown>;
}

// A field every connection record carries with the same value: grouping by it
// counts across the whole fleet, which is what a Sigma correlation without
// group-by means.
const FLEET_WIDE = 'event.module';

function mapField(f: unknown, path: Path): string {
  if (typeof f !== 'string') throw new Unconvertible(`a field name must be text, got ${JSON.stringify(f)}`, path);
  const m = SIGMA_FIELDS[f];
  if (!m) throw new Unconvertible(`correlation field ${f} has no connaudit equivalent`, path);
  return m.path;
}

function minimum(cond: unknown, path: Path): number {
  if (cond === null || typeof cond !== 'object') throw new Unconvertible('correlation condition must be a map such as {gte: 10}', path);
  const c = cond as Record<string, unknown>;
  const ops = Object.keys(c).filter((k) => k !== 'field');
  if (ops.some((o) => o === 'lt' || o === 'lte' || o === 'eq')) {
    throw new Unconvertible(`correlation condition ${JSON.stringify(cond)}: connaudit counts fire when a minimum is reached; an upper bound or an exact count needs the window to close without more events, which a streaming rule cannot wait for`, path);
  }
  if (ops.length !== 1) throw new Unconvertible(`correlation condition needs exactly one of gte or gt, got ${JSON.stringify(cond)}`, path);
  const n = c[ops[0]!];
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) throw new Unconvertible(`correlation condition value must be a whole number, got ${JSON.stringify(n)}`, path);
  return ops[0] === 'gt' ? n + 1 : Math.max(1, n);
}

function permutations<T>(xs: T[]): T[][] {
  if (xs.length <= 1) return [xs];
  return xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((p) => [x, ...p]));
}

export function convertCorrelation(c: Correlation, refs: Referenced[], path: Path): Body[] {
  if (c.aliases !== undefined) throw new Unconvertible('field aliases in correlations are not supported: connaudit groups every referenced rule by the same document fields', [...path, 'aliases']);
  if (typeof c.timespan !== 'string' || !/^\d+[smhd]$/.test(c.timespan)) throw new Unconvertible(`timespan must look like 5m, 1h or 1d, got ${JSON.stringify(c.timespan)}`, [...path, 'timespan']);
  const window = c.timespan;
  const gb = c['group-by'];
  const groupBy = gb === undefined ? [FLEET_WIDE] : Array.isArray(gb) && gb.length ? [...new Set(gb.map((f, i) => mapField(f, [...path, 'group-by', i])))] : null;
  if (!groupBy) throw new Unconvertible('group-by must be a list of fields', [...path, 'group-by']);
  const anyOf = flat('or', refs.map((r) => r.cond));
  switch (c.type) {
    case 'event_count':
      return [{ suffix: '', params: { type: 'threshold', group_by: groupBy, threshold: minimum(c.condition, [...path, 'condition']), window, condition: anyOf } }];
    case 'value_count': {
      const cond = c.condition as Record<string, unknown> | undefined;
      const distinct = mapField(cond?.field, [...path, 'condition', 'field']);
      return [{ suffix: '', params: { type: 'value_count', group_by: groupBy, distinct: [distinct], threshold: minimum(cond, [...path, 'condition']), window, condition: anyOf } }];
    }
    case 'temporal':
    case 'temporal_ordered': {
      if (refs.length < 2) throw new Unconvertible(`${c.type} needs at least two rules`, [...path, 'rules']);
      if (c.condition !== undefined) {
        const need = minimum(c.condition, [...path, 'condition']);
        if (need !== refs.length) throw new Unconvertible(`${c.type} with a condition of ${need} of ${refs.length} rules cannot be converted: a connaudit sequence needs every step`, [...path, 'condition']);
      }
      const orders = c.type === 'temporal_ordered' ? [refs] : refs.length <= 3 ? permutations(refs) : null;
      if (!orders) throw new Unconvertible(`temporal over ${refs.length} rules would need ${refs.length}! ordered sequences; connaudit converts unordered temporal correlations of up to 3 rules (or use temporal_ordered)`, [...path, 'rules']);
      return orders.map((o) => ({
        suffix: orders.length > 1 ? `order ${o.map((r) => r.ref).join(' > ')}` : '',
        params: { type: 'sequence', join_on: groupBy, maxspan: window, steps: o.map((r) => ({ name: r.ref, condition: r.cond })), condition: true },
      }));
    }
    default:
      throw new Unconvertible(`correlation type ${JSON.stringify(c.type)} is not supported (event_count, value_count, temporal, temporal_ordered are)`, [...path, 'type']);
  }
}
