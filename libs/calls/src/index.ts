export * from './calls.module';
export * from './calls.service';
export { CallSupervisor } from './call-supervisor';
export { toCallDto, callDurationSeconds } from './call-record';
export type { CallRecord } from './call-record';
export { callEntryBody, formatCallDuration } from './call-entry-body';
export * from './call-media.service';
export { ActiveCallCache } from './active-call-cache';
