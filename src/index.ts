/**
 * The one public entry of quiverdb: named re-exports only (aesthetics convention 3).
 */
export { Quiver } from './engine/quiver.js';
export type { QuiverOptions, CollectionInfo, DatabaseStats } from './engine/quiver.js';
export type { CacheStats } from './engine/query-cache.js';
export { Collection } from './engine/collection.js';
export type {
  PointRecord,
  ScanPoint,
  ScanOptions,
  SearchHit,
  SearchOptions,
  SearchExplain,
  WriteResult,
} from './engine/collection.js';
export type {
  BinaryQuantizationConfig,
  CollectionConfig,
  CreateCollectionOptions,
  CollectionChanges,
  HnswConfig,
  PointInput,
  QuantizationConfig,
  QuantizationName,
  ScalarQuantizationConfig,
} from './engine/validation.js';
export type { QuantizedSearch } from './ann/vector-index.js';
export type { BinaryEncoding, BinaryQueryEncoding } from './ann/binary-quantizer.js';
export type { RecoveryReport } from './engine/recovery.js';
export { QuiverError, isQuiverError, ERROR_CODES } from './common/quiver-error.js';
export type { ErrorCode, ErrorDetails } from './common/quiver-error.js';
export type { PointId, Payload, JsonValue, JsonObject, MetricName } from './common/types.js';
export type { Logger } from './common/logger.js';
export type { FsyncPolicy } from './storage/wal/log.js';
export type { FileSystem, FileHandle, OpenMode, FailpointName } from './storage/io/file-system.js';
export { syncDocuments } from './sync/sync.js';
export type {
  PlannedDelete,
  PlannedEmbed,
  SyncOptionNames,
  SyncOptions,
  SyncPlan,
  SyncProgress,
  SyncReport,
} from './sync/sync.js';
export { doctorCollection } from './sync/doctor.js';
export type {
  DoctorOptions,
  DoctorProgress,
  DoctorReport,
  Finding,
  FindingKind,
  FindingStatus,
} from './sync/doctor.js';
export type { WalkSkipReason } from './sync/source-files.js';
export type { SkipReason } from './sync/source-plan.js';
export type { SyncCollection, SyncStore } from './sync/sync-store.js';
export { localEmbedder } from './sync/embedder.js';
export type { Embedder, EmbeddingBatch } from './sync/embedder.js';
export { openAiEmbedder } from './sync/openai-embedder.js';
export type { OpenAiEmbedderOptions } from './sync/openai-embedder.js';
export type { ChunkOptions } from './sync/chunker.js';
