// Letting go of the broker when an actor stops: drain what is queued, but never wait for ever on
// a broker that is gone (the client reconnects and never answers; a stopping daemon used to hang
// until a second signal: test/e2e/stop-without-broker.test.ts).
import type { NatsConnection } from 'nats';
import type { Logger } from 'winston';

/** How long a stopping actor waits for the broker to take its last messages before it lets go. */
export const DRAIN_MS = 2000;

/**
 * Did `work` settle within `ms`? A drain or flush waits for the broker's answer, and while the
 * broker is gone the client keeps reconnecting and never gives one: a stopping daemon would wait
 * for ever (it did, until a second signal). Whatever `work` rejects with counts as settled.
 */
export async function settledWithin(work: Promise<unknown>, ms = DRAIN_MS): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([work.then(() => true, () => true), late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Drain `nc` (what is queued goes out, subscriptions end) and close it. A drain that fails at
 * once (the broker is gone: the client is reconnecting) or gets no answer within `ms` leaves the
 * client reconnecting for ever, which keeps the process alive: it is closed as it is then.
 */
export async function closeBus(nc: NatsConnection, log: Logger, ms = DRAIN_MS): Promise<void> {
  if (nc.isClosed()) return;
  await settledWithin(nc.drain(), ms);
  if (nc.isClosed()) return;
  log.warn('broker unreachable: closed the connection without draining it', { waitedAtMostMs: ms });
  await nc.close().catch(() => undefined);
}
