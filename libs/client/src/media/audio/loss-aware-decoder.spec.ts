import childProcess from 'node:child_process';
import os from 'node:os';
import { EncodedTone } from '../encoded-tone';
import { decodeWithLoss } from './loss-aware-decoder';

type Decode = typeof decodeWithLoss;

/** Two seconds of a tone with every tenth packet lost. */
function lossyStream(): (Buffer | null)[] {
  const tone = EncodedTone.of(440, 0.3, { bitrate: 24_000, fecLossPercent: 10 });
  return Array.from({ length: 100 }, (_, i) => (i % 10 === 5 ? null : tone.packets[i % tone.packets.length]));
}

const realSpawn = childProcess.spawn;

/** A stand-in for the decoder child that exits with `status` at once. */
function exitingChild(status: number) {
  return ((_command: string, _args: string[], options: childProcess.SpawnOptions) =>
    realSpawn('python3', ['-c', `import sys; sys.exit(${status})`], options)) as unknown as typeof childProcess.spawn;
}

describe('decoding a stream with losses through the system libopus', () => {
  afterEach(() => jest.restoreAllMocks());

  it('runs at most one decoder child per core at once, and every stream still gets its FEC', async () => {
    let running = 0;
    let most = 0;
    jest.spyOn(childProcess, 'spawn').mockImplementation(((command: string, args: string[], options: childProcess.SpawnOptions) => {
      const child = realSpawn(command, args, options);
      most = Math.max(most, ++running);
      child.on('close', () => running--);
      return child;
    }) as unknown as typeof childProcess.spawn);
    const streams = 2 * os.availableParallelism() + 1;
    const decoded = await Promise.all(Array.from({ length: streams }, () => decodeWithLoss(lossyStream(), true)));
    expect(decoded.map((d) => d.fecAvailable)).toEqual(new Array(streams).fill(true));
    expect(decoded[0].sources.filter((s) => s === 'fec')).toHaveLength(10);
    expect(most).toBeGreaterThan(0);
    expect(most).toBeLessThanOrEqual(os.availableParallelism());
    expect(running).toBe(0);
  });

  it('a child that fails costs that stream its FEC, not the streams after it', async () => {
    const spawn = jest.spyOn(childProcess, 'spawn').mockImplementationOnce(exitingChild(1));
    const failed = await decodeWithLoss(lossyStream(), true);
    expect(failed.fecAvailable).toBe(false);
    expect(failed.sources.filter((s) => s === 'concealed')).toHaveLength(10);
    expect((await decodeWithLoss(lossyStream(), true)).fecAvailable).toBe(true);
    expect(spawn).toHaveBeenCalledTimes(2);
  });

  it('once libopus is found missing, every later stream is decoded without it (no child per stream)', async () => {
    let isolated!: Decode;
    // A module of its own: once libopus is found missing, it stays so for the process.
    await jest.isolateModulesAsync(async () => {
      isolated = (await import('./loss-aware-decoder')).decodeWithLoss;
    });
    const spawn = jest.spyOn(childProcess, 'spawn').mockImplementationOnce(exitingChild(4));
    expect((await isolated(lossyStream(), true)).fecAvailable).toBe(false);
    expect((await isolated(lossyStream(), true)).fecAvailable).toBe(false);
    expect(spawn).toHaveBeenCalledTimes(1);
  });
});
