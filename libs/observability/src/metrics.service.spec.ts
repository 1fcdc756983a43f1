import { MetricsService } from './metrics.service';

describe('MetricsService.counterSeries', () => {
  it('adds hot-path bumps to the counter when the metrics are rendered, each series under its own labels', async () => {
    const metrics = new MetricsService();
    const counter = metrics.counter('things_total', 'things', ['kind']);
    const a = metrics.counterSeries(counter, { kind: 'a' });
    const b = metrics.counterSeries(counter, { kind: 'b' });
    a.inc();
    a.inc(2);
    b.inc();
    counter.inc({ kind: 'a' }); // direct increments still count
    expect((await metrics.render()).body).toMatch(/things_total\{kind="a"\} 4\n/);
    a.inc();
    const body = (await metrics.render()).body;
    expect(body).toMatch(/things_total\{kind="a"\} 5\n/);
    expect(body).toMatch(/things_total\{kind="b"\} 1\n/);
  });
});
