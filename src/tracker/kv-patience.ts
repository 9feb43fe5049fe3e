// Waiting for JetStream: a tracker started with a fresh cluster (or beside one that is electing a
// leader, or cut off from its quorum) cannot open its bucket or its watch yet. That is a state to
// wait out, saying so, not a reason to exit: the daemon keeps trying until the cluster answers
// or it is stopped. A broker without JetStream at all is another matter: that fails, clearly.
import type { Logger } from 'winston';

export interface PatienceOptions {
  log: Logger;
  /** what is being waited for, for the log lines and the error */
  what: string;
  /** true once the caller is stopping: give up at once */
  stopped: () => boolean;
  /**
   * how long "no JetStream here" may last before it is final (default 20 s; Infinity where the
   * broker is known to have JetStream and "no responders" means a partition, not a setup error)
   */
  noJetStreamMs?: number;
}

/** A warning line at most this often while it keeps failing. */
const WARN_EVERY_MS = 10_000;
/** First and longest pause between tries. */
const MIN_DELAY_MS = 250;
const MAX_DELAY_MS = 4000;

/** The broker answered that nothing serves the JetStream API: it runs without `-js`. */
function isNoJetStream(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown };
  return String(e?.code) === '503' || /no responders|jetstream not enabled/i.test(String(e?.message ?? ''));
}

/**
 * `attempt(remainingHintMs)` until it resolves. Transient failures (timeouts, no leader, no quorum)
 * are retried for as long as it takes, with a warning every 10 s; a broker without
 * JetStream fails after `noJetStreamMs` with an error that says what to do.
 */
export async function patiently<T>(attempt: () => Promise<T>, opts: PatienceOptions): Promise<T> {
  const started = Date.now();
  let lastWarn = started;
  let noJsSince: number | undefined;
  for (let delay = MIN_DELAY_MS; ; delay = Math.min(delay * 2, MAX_DELAY_MS)) {
    try {
      const value = await attempt();
      if (lastWarn !== started) opts.log.info(`${opts.what}: ready`, { waitedMs: Date.now() - started });
      return value;
    } catch (err) {
      const message = (err as Error).message;
      if (opts.stopped()) throw new Error(`${opts.what}: stopped while waiting (${message})`, { cause: err });
      if (isNoJetStream(err)) {
        noJsSince ??= Date.now();
        if (Date.now() - noJsSince >= (opts.noJetStreamMs ?? 20_000)) {
          throw new Error(`${opts.what}: the NATS broker has no JetStream (${message}); start nats-server with -js, or use --store memory`, { cause: err });
        }
      } else noJsSince = undefined;
      if (Date.now() - lastWarn >= WARN_EVERY_MS) {
        lastWarn = Date.now();
        opts.log.warn(`${opts.what}: ${noJsSince === undefined ? 'JetStream not ready' : 'no JetStream answers (started with -js?)'}, still trying`, { err: message, waitedMs: lastWarn - started });
      } else opts.log.debug(`${opts.what}: not ready, retrying`, { err: message });
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}
