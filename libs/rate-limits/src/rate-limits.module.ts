import { Global, Module } from '@nestjs/common';
import { RedisModule } from '@app/redis';
import { RateLimiterService } from './rate-limiter.service';

// Brings the Redis owner (global) with it: every process with socket handlers has both.
@Global()
@Module({ imports: [RedisModule], providers: [RateLimiterService], exports: [RateLimiterService] })
export class RateLimitsModule {}
