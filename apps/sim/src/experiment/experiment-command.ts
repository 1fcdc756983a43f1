import fs from 'node:fs';
import type { EmbeddedGateway } from '../embedded-gateway';
import { UsageError } from '../sim-cli';
import { EXPERIMENT_USAGE, ExperimentCliOptions, parseExperimentCli } from './experiment-cli';
import { renderExperimentHtml } from './experiment-html';
import { ExperimentReport, fmtBytes } from './experiment-report';
import { runVideoCallExperiment } from './video-call-experiment';

/** Exit codes of `npm run sim -- --experiment ...`. */
export const EXIT = { passed: 0, findings: 1, usage: 2, crashed: 3 } as const;

/** The experiment command: parse, run (against --url or a gateway started here), write the reports. */
export async function runExperimentCommand(
  argv: string[],
  out: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream } = process,
): Promise<number> {
  let cli: ExperimentCliOptions | 'help';
  try {
    cli = parseExperimentCli(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      out.stderr.write(`${err.message}\n\n${EXPERIMENT_USAGE}`);
      return EXIT.usage;
    }
    throw err;
  }
  if (cli === 'help') {
    out.stdout.write(EXPERIMENT_USAGE);
    return EXIT.passed;
  }
  let embedded: EmbeddedGateway | undefined;
  try {
    if (cli.urls.length === 0) {
      out.stderr.write('no --url: starting a gateway in this process\n');
      const { startEmbeddedGateway } = await import('../embedded-gateway');
      embedded = await startEmbeddedGateway({
        ...process.env,
        CALL_QUALITY_INTERVAL_MS: process.env.CALL_QUALITY_INTERVAL_MS ?? String(cli.qualityIntervalMs),
      });
    }
    const adminToken = embedded?.adminToken ?? cli.adminToken;
    if (!adminToken) {
      out.stderr.write(
        `the experiment switches the video_call flag: --admin-token (or $ADMIN_TOKEN) is needed with --url\n\n${EXPERIMENT_USAGE}`,
      );
      return EXIT.usage;
    }
    let lastPhase = '';
    const report = await runVideoCallExperiment({ ...cli, urls: embedded ? [embedded.url] : cli.urls, adminToken }, (p) => {
      if (p.phase !== lastPhase || (cli as ExperimentCliOptions).progress) {
        out.stderr.write(`${p.phase}${p.phase === 'calls' ? ` ${(p.elapsedMs / 1000).toFixed(0)} s, ${p.callsDone} calls` : ''}...\n`);
      }
      lastPhase = p.phase;
    });
    fs.writeFileSync(cli.out, `${JSON.stringify(report, null, 2)}\n`);
    if (cli.html) fs.writeFileSync(cli.html, renderExperimentHtml(report));
    out.stdout.write(`${formatExperiment(report)}\nreport written to ${cli.out}${cli.html ? ` and ${cli.html}` : ''}\n`);
    return report.passed ? EXIT.passed : EXIT.findings;
  } finally {
    await embedded?.close();
  }
}

/** A few lines for the terminal. */
export function formatExperiment(r: ExperimentReport): string {
  const lines = [`Video experiment: ${r.users} users, ${(r.durationMs / 1000).toFixed(0)} s, network ${r.network.profile}, seed ${r.seed}`];
  for (const c of r.cohorts) {
    lines.push(
      `  ${c.cohort.padEnd(5)} cohort: ${c.users} users; calls ${c.calls.completed}/${c.calls.attempted} done (${c.calls.video} video, ${c.calls.voice} voice), ` +
        `${c.calls.refused} refused, ${c.calls.failed} failed; set-up p50 ${c.setupMs.summary.p50 ?? '-'} ms; MOS p50 ${c.mos.summary.p50 ?? '-'}; ` +
        `${c.clientBytesPerCallMinute === null ? '-' : fmtBytes(c.clientBytesPerCallMinute)}/call-minute` +
        (c.sfuCpuMsPerCallSecond === null ? '' : `; SFU ${c.sfuCpuMsPerCallSecond} ms CPU/call-second`),
    );
  }
  for (const f of r.findings) lines.push(`  ${f.severity === 'fail' ? 'FINDING' : 'note'}: ${f.text}`);
  lines.push(r.passed ? 'RESULT: PASS' : 'RESULT: FINDINGS');
  return lines.join('\n');
}
