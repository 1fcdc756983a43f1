export * from './errors';
export * from './envelope';
export * from './enums';
export * from './models';
export * from './events';
export * as schemas from './schemas';
export * as responseSchemas from './response-schemas';
export * from './protocol-catalog';
export { charCount, MAX_BODY_CHARS, MAX_PAGE, MAX_RESPONSE_BYTES } from './schemas';
export type {
  CallQualityLegDto,
  CallQualityDto,
  MediaStatsLegDto,
  MediaStatsDto,
  TransportInfoDto,
  ProducerSummaryDto,
  ConsumerInfoDto,
  MediaJoinResultDto,
  ConsumerAddedDto,
  ExposureDto,
  VariantQualityDto,
  FlagReportVariantDto,
  FlagReportDto,
} from './response-schemas';
