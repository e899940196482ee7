import { compress as zstdCompress, decompress as zstdDecompress } from '@mongodb-js/zstd';
import kafkajs from 'kafkajs';
import { compressFrame as lz4Compress, decompressFrame as lz4Decompress } from 'lz4-napi';

// Kafka batch compression codecs for kafkajs, which ships only gzip. Both
// libraries install prebuilt Node-API binaries (no compiler on the host);
// @kafkajs/zstd and kafkajs-lz4 were rejected because they build C++ at install.
//
// Kafka's wire formats: ZSTD batches are plain zstd frames; LZ4 batches (record
// batch v2, KIP-57) are LZ4 *frame* format, not raw blocks, hence compressFrame.
//
// Registration is global in kafkajs (one codec table per process), so importing
// lib/kafka.ts — which the agent producer and the pipeline consumers both do —
// is enough for either side to write or read compressed batches.

const { CompressionTypes, CompressionCodecs } = kafkajs;

/** zstd level 3 is the library default; higher levels cost CPU for little gain on small Avro batches (see tools/bench/compression.ts). */
const ZSTD_LEVEL = 3;

interface Encoder { buffer: Buffer }

const zstd = {
  compress: async (encoder: Encoder): Promise<Buffer> => zstdCompress(encoder.buffer, ZSTD_LEVEL),
  decompress: async (buffer: Buffer): Promise<Buffer> => zstdDecompress(buffer),
};

const lz4 = {
  compress: async (encoder: Encoder): Promise<Buffer> => lz4Compress(encoder.buffer),
  decompress: async (buffer: Buffer): Promise<Buffer> => lz4Decompress(buffer),
};

let registered = false;

export function registerCompressionCodecs(): void {
  if (registered) return;
  CompressionCodecs[CompressionTypes.ZSTD] = () => zstd;
  CompressionCodecs[CompressionTypes.LZ4] = () => lz4;
  registered = true;
}

export const COMPRESSION_NAMES = ['none', 'gzip', 'lz4', 'zstd'] as const;
export type CompressionName = (typeof COMPRESSION_NAMES)[number];

export function compressionType(name: CompressionName): kafkajs.CompressionTypes {
  switch (name) {
    case 'none': return CompressionTypes.None;
    case 'gzip': return CompressionTypes.GZIP;
    case 'lz4': return CompressionTypes.LZ4;
    case 'zstd': return CompressionTypes.ZSTD;
  }
}
