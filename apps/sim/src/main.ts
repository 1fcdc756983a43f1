import fs from 'node:fs';
import { SingleBar } from 'cli-progress';
import { formatReport } from './sim-report';
import { parseCli, UsageError, USAGE } from './sim-cli';
import { runSimulation } from './simulation';
import type { EmbeddedGateway } from './embedded-gateway';
import { isExperimentCommand } from './experiment/experiment-cli';
import { EXIT, runExperimentCommand } from './experiment/experiment-command';

/** `npm run sim -- ...`: exit 0 when the run passed, 1 when it found problems, 2 on bad usage, 3 when it crashed. */
async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  if (isExperimentCommand(argv)) return runExperimentCommand(argv);
  let cli;
  try {
    cli = parseCli(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`${err.message}\n\n${USAGE}`);
      return 2;
    }
    throw err;
  }
  if (cli === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }

  let embedded: EmbeddedGateway | undefined;
  if (cli.urls.length === 0) {
    process.stderr.write('no --url: starting a gateway in this process\n');
    const { startEmbeddedGateway } = await import('./embedded-gateway');
    embedded = await startEmbeddedGateway();
  }
  const urls = embedded ? [embedded.url] : cli.urls;
  const adminToken = embedded?.adminToken ?? cli.adminToken;

  const bar = cli.progress
    ? new SingleBar({ format: ' {phase} [{bar}] {value}/{total} ({duration}s)', hideCursor: true, clearOnComplete: false })
    : undefined;
  bar?.start(1, 0, { phase: 'users' });
  let lastPhase = '';
  try {
    const report = await runSimulation({ ...cli, urls, adminToken, embeddedGateway: embedded !== undefined }, (p) => {
      if (bar) {
        bar.setTotal(p.total);
        bar.update(p.done, { phase: p.phase.padEnd(8) });
      } else if (p.phase !== lastPhase) {
        process.stderr.write(`${p.phase}...\n`);
      }
      lastPhase = p.phase;
    });
    bar?.stop();
    process.stdout.write(`${formatReport(report)}\n`);
    fs.writeFileSync(cli.out, `${JSON.stringify(report, null, 2)}\n`);
    process.stdout.write(`report written to ${cli.out}\n`);
    return report.passed ? 0 : 1;
  } finally {
    bar?.stop();
    await embedded?.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`simulation crashed: ${err?.stack ?? err}\n`);
    process.exit(EXIT.crashed);
  },
);
