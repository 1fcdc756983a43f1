// Prisma 6.19 CLI configuration. The JavaScript schema engine (driver adapter)
// is selected so `prisma generate` and `prisma migrate diff` run without the
// native engines, which would otherwise be downloaded at run time.
import path from 'node:path';
import { defineConfig } from 'prisma/config';
import { PrismaPg } from '@prisma/adapter-pg';

export default defineConfig({
  experimental: { adapter: true },
  engine: 'js',
  schema: path.join('prisma', 'schema.prisma'),
  async adapter() {
    return new PrismaPg({ connectionString: process.env.DATABASE_URL ?? '' });
  },
});
