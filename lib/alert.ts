// The alert document, written by the rule engine (pipeline/rules) and the SLO
// stage (pipeline/slo) and indexed into connaudit-alerts. ECS-style: the
// group-by values of the rule sit at their own ECS paths (source.ip,
// host.name, ...) so an analyst filters alerts exactly as connections.

/** integrity: raised by the pipeline itself (pipeline/integrity.ts), not by a rule file. */
export type RuleCategory = 'unexpected_outbound' | 'lateral_movement' | 'network_health' | 'slo_impact' | 'integrity';

export interface AlertDoc {
  '@timestamp': string;
  event: {
    id: string;
    kind: 'alert';
    category: ['network'];
    type: ['info'] | ['connection'] | string[];
    /** 0-100 severity mapped from the rule's severity (low 21, medium 47, high 73, critical 99). */
    severity: number;
    risk_score: number;
    start: string;
    end: string;
    dataset: 'connaudit.alerts';
    module: 'connaudit';
    reason?: string;
  };
  rule: {
    id: string;
    name: string;
    category: RuleCategory;
    description: string;
    type: string;
    severity: 'low' | 'medium' | 'high' | 'critical';
    maturity?: string;
    version?: string;
  };
  threat?: {
    framework: 'MITRE ATT&CK';
    tactic: { id: string[] };
    technique: { id: string[] };
  };
  connaudit: {
    alert: {
      group_key: string;
      count: number;
      first_seen: string;
      last_seen: string;
      /** event.id values of the connection documents that triggered it (capped). */
      event_ids: string[];
      investigation?: string;
      explain?: string;
      /** distinct values for value_count rules, hops for pivot_chain, etc. */
      values?: string[];
      [k: string]: unknown;
    };
    [k: string]: unknown;
  };
  slo?: Record<string, unknown>;
  /** Group-by values at their ECS paths: source.ip, host.name, destination.port, ... */
  [ecsPath: string]: unknown;
}
