import type { Request } from 'express';
import { addressMatcher, clientAddressOf } from './http-rate-limit.middleware';

describe(addressMatcher.name, () => {
  it('matches IPv4 and IPv6 blocks and bare addresses, and nothing else', () => {
    const exempt = addressMatcher(['127.0.0.0/8', '::1/128', '10.1.2.3', 'fd00::/8']);
    for (const address of ['127.0.0.1', '127.255.0.9', '::1', '10.1.2.3', 'fd12::5']) expect(exempt(address)).toBe(true);
    for (const address of ['128.0.0.1', '10.1.2.4', '::2', 'fe80::1', '', 'localhost', 'not an address'])
      expect(exempt(address)).toBe(false);
    expect(addressMatcher([])('127.0.0.1')).toBe(false);
  });
});

describe(clientAddressOf.name, () => {
  const from = (remoteAddress: string | undefined) => clientAddressOf({ socket: { remoteAddress } } as unknown as Request);

  it('is the peer address, an IPv4 client of a dual-stack listener as plain IPv4, never a header', () => {
    expect(from('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(from('192.0.2.7')).toBe('192.0.2.7');
    expect(from('2001:db8::1')).toBe('2001:db8::1');
    expect(from(undefined)).toBe('');
  });
});
