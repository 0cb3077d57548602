import * as vscode from 'vscode';
import { LabError } from '../core/errors';
import type { Lab } from '../core/lab';
import { LongTransaction } from '../core/lessons';
import { DEMO_SCENARIO } from '../core/scenarios/demo';
import type { Logger } from '../core/log';
import { config, labSchema } from './config';

/** The panel's "slow report": one long transaction on the demo's seeded table, held until ended or timed out. */
export class SlowReport implements vscode.Disposable {
  private tx: LongTransaction | undefined;
  private readonly changed = new vscode.EventEmitter<number | undefined>();
  readonly onDidChange = this.changed.event;

  get pid(): number | undefined {
    return this.tx?.open ? this.tx.pid : undefined;
  }

  private starting: Promise<LongTransaction> | undefined;

  async start(ctx: { lab: Lab; logger: Logger }): Promise<void> {
    if (this.tx?.open || this.starting) return; // one slow report at a time (a double click opens one)
    const target = ctx.lab.connection;
    if (!target) throw new LabError('PostgreSQL is not running; start it first.');
    this.starting = LongTransaction.start({
      target,
      schema: labSchema(ctx.lab),
      logger: ctx.logger,
      timeoutMs: config.slowReportSeconds * 1000,
    });
    const tx = await this.starting.finally(() => (this.starting = undefined));
    this.tx = tx;
    this.changed.fire(tx.pid);
    void tx.ended.then(() => {
      if (this.tx !== tx) return;
      this.tx = undefined;
      this.changed.fire(undefined);
    });
    ctx.logger.info(
      `Slow report started (pid ${tx.pid}): a transaction that read ${DEMO_SCENARIO.seed.large} and stays open.`,
    );
  }

  async end(): Promise<void> {
    await this.tx?.end();
  }

  dispose(): void {
    void this.tx?.end();
    this.changed.dispose();
  }
}
