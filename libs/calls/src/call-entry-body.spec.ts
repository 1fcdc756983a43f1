import { callEntryBody, formatCallDuration } from './call-entry-body';

const t0 = new Date('2026-01-01T10:00:00.000Z');
const after = (ms: number) => new Date(t0.getTime() + ms);

describe(callEntryBody.name, () => {
  it('shows the duration of an answered call', () => {
    expect(callEntryBody({ media: 'audio', answeredAt: t0, endedAt: after(754_000), endReason: 'hangup' })).toBe('Voice call · 12:34');
    expect(callEntryBody({ media: 'video', answeredAt: t0, endedAt: after(3_600_000), endReason: 'max_duration' })).toBe(
      'Video call · 1:00:00',
    );
    expect(callEntryBody({ media: 'audio', answeredAt: t0, endedAt: after(400), endReason: 'disconnected' })).toBe('Voice call · 00:00');
  });

  it('names what happened to a call that was never answered', () => {
    const ring = { media: 'audio' as const, answeredAt: null, endedAt: after(1000) };
    expect(callEntryBody({ ...ring, endReason: 'missed' })).toBe('Missed voice call');
    expect(callEntryBody({ ...ring, endReason: 'declined' })).toBe('Declined voice call');
    expect(callEntryBody({ ...ring, endReason: 'cancelled' })).toBe('Cancelled voice call');
    expect(callEntryBody({ ...ring, endReason: 'disconnected' })).toBe('Missed voice call');
    expect(callEntryBody({ ...ring, media: 'video', endReason: 'missed' })).toBe('Missed video call');
  });
});

describe(formatCallDuration.name, () => {
  it('pads minutes and seconds, and adds hours only when needed', () => {
    expect(formatCallDuration(0)).toBe('00:00');
    expect(formatCallDuration(59)).toBe('00:59');
    expect(formatCallDuration(3599)).toBe('59:59');
    expect(formatCallDuration(3661)).toBe('1:01:01');
  });
});
