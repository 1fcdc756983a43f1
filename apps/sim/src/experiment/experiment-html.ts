import type { Cohort } from './call-plan';
import { describeNetwork } from './experiment-network';
import { ExperimentReport, fmtBytes } from './experiment-report';

/**
 * The experiment report as one self-contained HTML page: inline SVG
 * charts and inline styles, no scripts, fonts or anything fetched, so it
 * opens the same from a CI artifact, a mail or a laptop offline.
 */
export function renderExperimentHtml(r: ExperimentReport): string {
  const by = (c: Cohort) => r.cohorts.find((x) => x.cohort === c)!;
  const cohorts = r.cohorts.map((c) => c.cohort);
  const killT = r.killSwitch ? r.killSwitch.atMs / 1000 : undefined;
  const failures = r.findings.filter((f) => f.severity === 'fail');
  const charts = [
    card(
      'Set-up time (invite → first audio heard)',
      histogram({
        id: 'setup',
        series: cohorts.map((c) => ({ name: cohortName(c), color: COLORS[c], values: by(c).setupMs.values })),
        xLabel: 'ms',
      }),
    ),
    card(
      'Bitrate over time (clients sent; dashed: SFU call:quality)',
      lineChart({
        id: 'bitrate',
        series: [
          ...cohorts.map((c) => ({
            name: `${cohortName(c)} clients`,
            color: COLORS[c],
            dashed: false,
            points: r.bitrate.map((p) => [p.t, p.clientSentKbps[c]] as [number, number]),
          })),
          ...cohorts.map((c) => ({
            name: `${cohortName(c)} SFU`,
            color: COLORS[c],
            dashed: true,
            points: r.bitrate.flatMap((p) => (p.serverUpKbps[c] === null ? [] : [[p.t, p.serverUpKbps[c]!] as [number, number]])),
          })),
        ].filter((s) => s.points.length > 0),
        xLabel: 's',
        yLabel: 'kbit/s',
        marker: killT === undefined ? undefined : { x: killT, label: 'kill switch' },
      }),
    ),
    card(
      'Audio loss per leg (receivers)',
      histogram({
        id: 'loss',
        series: cohorts.map((c) => ({ name: cohortName(c), color: COLORS[c], values: by(c).audioLoss.values.map((v) => v * 100) })),
        xLabel: '% lost',
        min: 0,
      }),
    ),
    card(
      'MOS per audio leg (E-model)',
      histogram({
        id: 'mos',
        series: cohorts.map((c) => ({ name: cohortName(c), color: COLORS[c], values: by(c).mos.values })),
        xLabel: 'MOS',
        min: 1,
        max: 4.5,
        bins: 14,
      }),
    ),
    card(
      'SFU CPU per call-second',
      bars({
        id: 'cpu',
        groups: cohorts.map((c) => ({
          name: cohortName(c),
          bars: [{ label: 'CPU', color: COLORS[c], value: by(c).sfuCpuMsPerCallSecond }],
        })),
        unit: 'ms',
        empty: r.sfuCpu.source ? 'not enough samples' : 'SFU CPU not readable from here',
      }),
    ),
    card(
      'Bytes per call-minute (clients / SFU)',
      bars({
        id: 'bytes',
        groups: cohorts.map((c) => ({
          name: cohortName(c),
          bars: [
            { label: 'clients', color: COLORS[c], value: by(c).clientBytesPerCallMinute },
            { label: 'SFU', color: SHADES[c], value: by(c).serverBytesPerCallMinute },
          ],
        })),
        unit: 'B',
        format: fmtBytes,
      }),
    ),
  ];
  const rows = r.cohorts.map((c) => {
    const cells = [
      cohortName(c.cohort),
      c.users,
      `${c.calls.completed}/${c.calls.attempted}`,
      `${c.calls.video} / ${c.calls.voice}`,
      c.calls.refused,
      c.calls.failed,
      ms(c.setupMs.summary.p50),
      ms(c.setupMs.summary.p95),
      c.mos.summary.p50 ?? '–',
      `${c.tone.heard}/${c.tone.checks}`,
      c.video.intactRatio === null
        ? '–'
        : `${(c.video.intactRatio * 100).toFixed(1)}% / ${c.video.decodableRatio === null ? '–' : `${(c.video.decodableRatio * 100).toFixed(1)}%`}`,
      c.video.legs ? `${Math.round(c.video.freezeMs.summary.p50 ?? 0)} / ${Math.round(c.video.freezeMs.summary.max ?? 0)} ms` : '–',
    ];
    return `<tr>${cells.map((v, i) => `<td${i === 0 ? ` style="color:${COLORS[c.cohort]};font-weight:600"` : ''}>${esc(String(v))}</td>`).join('')}</tr>`;
  });
  const k = r.killSwitch;
  const net = r.network;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Video experiment ${esc(r.startedAt)}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;background:#f6f7f9;color:#1f2328}
header{padding:16px 24px;background:#fff;border-bottom:1px solid #d8dee4}
h1{font-size:20px;margin:0 0 4px}h2{font-size:15px;margin:0 0 8px}
.verdict{display:inline-block;padding:2px 10px;border-radius:12px;font-weight:600;color:#fff;background:${failures.length ? '#cf222e' : '#1a7f37'}}
main{padding:16px 24px;display:grid;grid-template-columns:repeat(auto-fit,minmax(440px,1fr));gap:16px}
.card{background:#fff;border:1px solid #d8dee4;border-radius:8px;padding:12px 14px}
.wide{grid-column:1/-1}
table{border-collapse:collapse;width:100%}td,th{padding:4px 8px;border-bottom:1px solid #eaeef2;text-align:right}td:first-child,th:first-child{text-align:left}
th{font-weight:600;color:#57606a;font-size:12px}
ul.findings{margin:0;padding-left:18px}li.fail{color:#cf222e}li.note{color:#57606a}
.muted{color:#57606a}svg text{font:11px system-ui,sans-serif;fill:#57606a}
</style></head><body>
<header><h1>Video experiment <span class="verdict">${failures.length ? `${failures.length} finding${failures.length > 1 ? 's' : ''}` : 'pass'}</span></h1>
<div class="muted">${esc(r.startedAt)} · ${(r.durationMs / 1000).toFixed(0)} s · ${r.users} users, ${r.friendships} friendships · seed ${r.seed} ·
network <b>${esc(net.profile)}</b> (${esc(describeNetwork(net))}, each leg both ways)
${k ? ` · kill switch at ${(k.atMs / 1000).toFixed(1)} s` : ''}</div></header>
<main>
<section class="card wide"><h2>Findings</h2><ul class="findings">${r.findings.map((f) => `<li class="${f.severity}">${f.severity === 'fail' ? '✗ ' : ''}${esc(f.text)}</li>`).join('') || '<li class="note">none</li>'}</ul></section>
<section class="card wide"><h2>Cohorts</h2><table><thead><tr><th>cohort</th><th>users</th><th>calls done</th><th>video / voice</th><th>refused</th><th>failed</th><th>set-up p50</th><th>p95</th><th>MOS p50</th><th>tone heard</th><th>frames intact / shown</th><th>freeze p50 / max</th></tr></thead><tbody>${rows.join('')}</tbody></table>
${k ? `<p class="muted">Kill switch: ${k.videoProducers} video producers in ${k.liveVideoCalls} live calls; ${k.closedWithinSecond} closed within a second (p50 ${k.closeLatencyMs.p50 ?? '–'} ms), ${k.closedLate} late, ${k.notClosed} never; audio went on in ${k.audioContinued}/${k.audioChecked}; later video-pair calls: ${k.laterVideoPairCalls} (${k.laterRefused} refused, ${k.laterAsVoice} as voice).</p>` : ''}
${serverTable(r)}</section>
${charts.join('\n')}
</main></body></html>
`;
}

const COLORS: Record<Cohort, string> = { video: '#2563eb', voice: '#d97706' };
const SHADES: Record<Cohort, string> = { video: '#93b4f5', voice: '#f0c27b' };
const cohortName = (c: Cohort) => (c === 'video' ? 'video cohort' : 'voice cohort');
const ms = (v: number | null) => (v === null ? '–' : `${Math.round(v)} ms`);

function serverTable(r: ExperimentReport): string {
  const report = r.server.flagReport;
  const exposures = r.server.exposures;
  if (!report && !exposures) return `<p class="muted">Server view: ${esc(r.server.unavailable.join('; ') || 'not read')}</p>`;
  const rows = [true, false].map((value) => {
    const v = report?.variants.find((x) => x.value === value);
    const e = exposures?.find((x) => x.value === value);
    return `<tr><td>${value ? 'flag on' : 'flag off'}</td><td>${e?.users ?? '–'}</td><td>${v?.users ?? '–'}</td><td>${v?.calls.attempted ?? '–'}</td><td>${v?.calls.refused ?? '–'}</td><td>${v?.calls.answered ?? '–'}</td><td>${v?.calls.setupMsP50 == null ? '–' : Math.round(v.calls.setupMsP50)}</td></tr>`;
  });
  return `<h2 style="margin-top:12px">Server view</h2><table><thead><tr><th>variant</th><th>exposed users</th><th>report users</th><th>attempted</th><th>refused</th><th>answered</th><th>set-up p50 ms</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function card(title: string, body: string): string {
  return `<section class="card"><h2>${esc(title)}</h2>${body}</section>`;
}

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const W = 440;
const H = 220;
const PAD = { l: 48, r: 12, t: 12, b: 40 };
const plotW = W - PAD.l - PAD.r;
const plotH = H - PAD.t - PAD.b;

function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function fmtNum(v: number): string {
  if (Math.abs(v) >= 1000) return `${Math.round(v / 100) / 10}k`;
  if (Math.abs(v) >= 10) return String(Math.round(v));
  return String(Math.round(v * 100) / 100);
}

function axes(
  xTicks: { x: number; label: string }[],
  yMax: number,
  xLabel: string,
  yLabel: string,
  yFormat: (v: number) => string = fmtNum,
): string {
  const yTicks = [0, 0.25, 0.5, 0.75, 1].map((f) => {
    const y = PAD.t + plotH - f * plotH;
    return `<line x1="${PAD.l}" x2="${W - PAD.r}" y1="${y}" y2="${y}" stroke="#eaeef2"/><text x="${PAD.l - 4}" y="${y + 4}" text-anchor="end">${esc(yFormat(f * yMax))}</text>`;
  });
  const xs = xTicks.map((t) => `<text x="${t.x}" y="${H - PAD.b + 14}" text-anchor="middle">${esc(t.label)}</text>`);
  return `${yTicks.join('')}<line x1="${PAD.l}" x2="${W - PAD.r}" y1="${PAD.t + plotH}" y2="${PAD.t + plotH}" stroke="#8c959f"/>${xs.join('')}
<text x="${PAD.l + plotW / 2}" y="${H - 6}" text-anchor="middle">${esc(xLabel)}</text><text x="12" y="${PAD.t + plotH / 2}" transform="rotate(-90 12 ${PAD.t + plotH / 2})" text-anchor="middle">${esc(yLabel)}</text>`;
}

function svg(id: string, body: string, legend: { name: string; color: string; dashed?: boolean }[]): string {
  const items = legend
    .map(
      (l) =>
        `<span style="margin-right:12px;white-space:nowrap"><svg width="18" height="10" aria-hidden="true"><line x1="0" x2="18" y1="5" y2="5" stroke="${l.color}" stroke-width="3"${l.dashed ? ' stroke-dasharray="4 3"' : ''}/></svg> ${esc(l.name)}</span>`,
    )
    .join('');
  return `<svg id="chart-${id}" class="chart" viewBox="0 0 ${W} ${H}" width="100%" height="${H}" preserveAspectRatio="xMidYMid meet" role="img">${body}</svg><div class="muted" style="font-size:12px">${items}</div>`;
}

function emptySvg(id: string, text: string): string {
  return svg(
    id,
    `<rect x="${PAD.l}" y="${PAD.t}" width="${plotW}" height="${plotH}" fill="#f6f8fa"/><text x="${W / 2}" y="${H / 2}" text-anchor="middle">${esc(text)}</text>`,
    [],
  );
}

interface Series {
  name: string;
  color: string;
  values: number[];
}

/** Side-by-side histogram of each series' values in shared bins; counts as shares of each series. */
export function histogram(o: { id: string; series: Series[]; xLabel: string; min?: number; max?: number; bins?: number }): string {
  const all = o.series.flatMap((s) => s.values);
  if (all.length === 0) return emptySvg(o.id, 'no data');
  const min = o.min ?? Math.min(0, ...all);
  let max = o.max ?? niceMax(Math.max(...all));
  if (max <= min) max = min + 1;
  const bins = o.bins ?? 12;
  const width = (max - min) / bins;
  const shares = o.series.map((s) => {
    const counts = new Array<number>(bins).fill(0);
    for (const v of s.values) counts[Math.min(bins - 1, Math.max(0, Math.floor((v - min) / width)))]++;
    return counts.map((c) => (s.values.length ? c / s.values.length : 0));
  });
  const yMax = niceMax(Math.max(...shares.flat()));
  const binW = plotW / bins;
  const barW = (binW - 2) / Math.max(1, o.series.length);
  const rects = shares.flatMap((counts, si) =>
    counts.map((share, b) => {
      const h = (share / yMax) * plotH;
      const x = PAD.l + b * binW + 1 + si * barW;
      return share > 0
        ? `<rect x="${x.toFixed(1)}" y="${(PAD.t + plotH - h).toFixed(1)}" width="${barW.toFixed(1)}" height="${h.toFixed(1)}" fill="${o.series[si].color}"><title>${esc(o.series[si].name)}: ${(share * 100).toFixed(0)}% in ${fmtNum(min + b * width)}–${fmtNum(min + (b + 1) * width)}</title></rect>`
        : '';
    }),
  );
  const ticks = Array.from({ length: 5 }, (_, i) => ({ x: PAD.l + (i / 4) * plotW, label: fmtNum(min + (i / 4) * (max - min)) }));
  return svg(
    o.id,
    `${axes(ticks, yMax * 100, o.xLabel, '% of legs / calls')}${rects.join('')}`,
    o.series.map((s) => ({ name: `${s.name} (n=${s.values.length})`, color: s.color })),
  );
}

/** Lines over time, with an optional vertical marker (the kill switch). */
export function lineChart(o: {
  id: string;
  series: { name: string; color: string; dashed: boolean; points: [number, number][] }[];
  xLabel: string;
  yLabel: string;
  marker?: { x: number; label: string };
}): string {
  const pts = o.series.flatMap((s) => s.points);
  if (pts.length === 0) return emptySvg(o.id, 'no data');
  const xMax = Math.max(1, ...pts.map((p) => p[0]), o.marker?.x ?? 0);
  const yMax = niceMax(Math.max(...pts.map((p) => p[1])));
  const X = (x: number) => PAD.l + (x / xMax) * plotW;
  const Y = (y: number) => PAD.t + plotH - (y / yMax) * plotH;
  const lines = o.series.map(
    (s) =>
      `<polyline fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5 4"' : ''} points="${s.points.map(([x, y]) => `${X(x).toFixed(1)},${Y(y).toFixed(1)}`).join(' ')}"><title>${esc(s.name)}</title></polyline>`,
  );
  const marker = o.marker
    ? `<g id="kill-switch-marker"><line x1="${X(o.marker.x)}" x2="${X(o.marker.x)}" y1="${PAD.t}" y2="${PAD.t + plotH}" stroke="#cf222e" stroke-width="2" stroke-dasharray="2 2"/><text x="${X(o.marker.x) + 4}" y="${PAD.t + 12}" style="fill:#cf222e;font-weight:600">${esc(o.marker.label)}</text></g>`
    : '';
  const ticks = Array.from({ length: 5 }, (_, i) => ({ x: X((i / 4) * xMax), label: fmtNum((i / 4) * xMax) }));
  return svg(o.id, `${axes(ticks, yMax, o.xLabel, o.yLabel)}${lines.join('')}${marker}`, [
    ...o.series.map((s) => ({ name: s.name, color: s.color, dashed: s.dashed })),
    ...(o.marker ? [{ name: o.marker.label, color: '#cf222e', dashed: true }] : []),
  ]);
}

/** Grouped bars with their values written on them. */
export function bars(o: {
  id: string;
  groups: { name: string; bars: { label: string; color: string; value: number | null }[] }[];
  unit: string;
  format?: (v: number) => string;
  empty?: string;
}): string {
  const values = o.groups.flatMap((g) => g.bars.map((b) => b.value)).filter((v): v is number => v !== null);
  if (values.length === 0) return emptySvg(o.id, o.empty ?? 'no data');
  const yMax = niceMax(Math.max(...values));
  const groupW = plotW / o.groups.length;
  const format = o.format ?? ((v: number) => `${fmtNum(v)} ${o.unit}`);
  const body = o.groups.flatMap((g, gi) => {
    const barW = Math.min(70, (groupW - 24) / g.bars.length);
    const start = PAD.l + gi * groupW + (groupW - barW * g.bars.length) / 2;
    return g.bars.map((b, bi) => {
      const x = start + bi * barW;
      if (b.value === null) return `<text x="${x + barW / 2}" y="${PAD.t + plotH - 4}" text-anchor="middle">n/a</text>`;
      const h = Math.max(1, (b.value / yMax) * plotH);
      return `<rect x="${x.toFixed(1)}" y="${(PAD.t + plotH - h).toFixed(1)}" width="${(barW - 4).toFixed(1)}" height="${h.toFixed(1)}" fill="${b.color}"><title>${esc(g.name)} ${esc(b.label)}: ${esc(format(b.value))}</title></rect><text x="${(x + (barW - 4) / 2).toFixed(1)}" y="${(PAD.t + plotH - h - 4).toFixed(1)}" text-anchor="middle" style="fill:#1f2328">${esc(format(b.value))}</text>`;
    });
  });
  const ticks = o.groups.map((g, gi) => ({ x: PAD.l + gi * groupW + groupW / 2, label: g.name }));
  const legend =
    o.groups[0].bars.length > 1 ? o.groups.flatMap((g) => g.bars.map((b) => ({ name: `${g.name} ${b.label}`, color: b.color }))) : [];
  return svg(o.id, `${axes(ticks, yMax, '', o.unit === 'B' ? '' : o.unit, o.format)}${body.join('')}`, legend);
}
