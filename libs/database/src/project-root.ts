import fs from 'node:fs';
import path from 'node:path';

/** The folder holding prisma/schema.prisma, found from here upwards (works from src and dist). */
export function projectRoot(): string {
  let dir = __dirname;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'prisma', 'schema.prisma'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) return process.cwd();
    dir = parent;
  }
}
