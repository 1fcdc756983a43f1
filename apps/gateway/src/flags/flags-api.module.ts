import { Module } from '@nestjs/common';

/** HTTP controllers (/flags, /admin/flags) and live flag push of the flags capability. */
@Module({ controllers: [], providers: [] })
export class FlagsApiModule {}
