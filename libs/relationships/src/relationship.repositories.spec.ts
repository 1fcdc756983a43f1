import { createRepositoryDatabase, RepositoryDatabase } from '../../../test/support/repository-database';
import { BlockRepository } from './block.repository';
import { ContactRepository } from './contact.repository';

describe('contacts and blocks (PostgreSQL)', () => {
  let database: RepositoryDatabase;
  let blocks: BlockRepository;
  let contacts: ContactRepository;

  beforeAll(async () => {
    database = await createRepositoryDatabase();
    blocks = new BlockRepository(database.prisma, database.pool);
    contacts = new ContactRepository(database.prisma, database.pool);
  });
  afterAll(() => database?.close());

  it('a block counts in either direction, until it is removed', async () => {
    const [a, b, c] = await database.createUsers(3);
    expect(await blocks.existsEitherWay(a, b)).toBe(false);
    await blocks.add(a, b);
    await blocks.add(a, b);
    expect(await blocks.existsEitherWay(a, b)).toBe(true);
    expect(await blocks.existsEitherWay(b, a)).toBe(true);
    expect(await blocks.existsEitherWay(a, c)).toBe(false);
    await blocks.remove(b, a);
    expect(await blocks.existsEitherWay(a, b)).toBe(true);
    await blocks.remove(a, b);
    expect(await blocks.existsEitherWay(b, a)).toBe(false);
  });

  it('contacts are mutual only when both directions exist', async () => {
    const [a, b] = await database.createUsers(2);
    expect(await contacts.upsert(a, b, undefined)).toBe(true);
    expect(await contacts.areMutual(a, b)).toBe(false);
    expect(await contacts.upsert(b, a, true)).toBe(true);
    expect(await contacts.upsert(b, a, false)).toBe(false);
    expect(await contacts.areMutual(a, b)).toBe(true);
    expect(await contacts.areMutual(b, a)).toBe(true);
    const [row] = await contacts.listFor(b, a);
    expect(row).toMatchObject({ user: { id: a }, favorite: false, mutual: true });
    expect(await contacts.remove(a, b)).toBe(true);
    expect(await contacts.remove(a, b)).toBe(false);
    expect(await contacts.areMutual(a, b)).toBe(false);
  });
});
