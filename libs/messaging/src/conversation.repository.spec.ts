import { orderedPair } from './conversation.repository';

describe('orderedPair', () => {
  const a = 'a1000000-0000-4000-8000-000000000000';
  const b = 'b2000000-0000-4000-8000-000000000000';

  it('puts the lower id first, whichever comes first', () => {
    expect(orderedPair(a, b)).toEqual({ userLowId: a, userHighId: b });
    expect(orderedPair(b, a)).toEqual({ userLowId: a, userHighId: b });
  });

  it('orders upper-case ids as PostgreSQL orders uuids, and stores them in lower case', () => {
    // As strings 'B2…' < 'a1…'; as uuids a1… < b2….
    expect(orderedPair(a, b.toUpperCase())).toEqual({ userLowId: a, userHighId: b });
    expect(orderedPair(b.toUpperCase(), a.toUpperCase())).toEqual({ userLowId: a, userHighId: b });
  });
});
