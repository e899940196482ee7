// The pipeline's view of a Kafka message, independent of kafkajs, so the batch
// logic runs the same over a real consumer and over an in-memory array in tests.

export interface InMessage {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers?: Record<string, string>;
}

/** A message bound for a topic (DLQ, rekey). */
export interface OutMessage {
  key: Buffer | string | null;
  value: Buffer | string | null;
  headers: Record<string, string>;
}

export interface Producer {
  /** Resolves once the broker acknowledged every message. */
  send(topic: string, messages: OutMessage[]): Promise<void>;
}
