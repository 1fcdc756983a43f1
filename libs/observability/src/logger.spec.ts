import { processIdentity, SERVICE_NAME } from './logger';

describe('processIdentity (service and role on every log line and span)', () => {
  it('says which role this process plays, from NODE_ROLE unless given', () => {
    expect(processIdentity({}, { NODE_ROLE: 'media' })).toEqual({ service: SERVICE_NAME, role: 'media' });
    expect(processIdentity({}, {})).toEqual({ service: SERVICE_NAME, role: 'all' });
    expect(processIdentity({ role: 'gateway' }, { NODE_ROLE: 'media' }).role).toBe('gateway');
    expect(processIdentity({}, { OTEL_SERVICE_NAME: 'chat-eu' }).service).toBe('chat-eu');
  });
});
