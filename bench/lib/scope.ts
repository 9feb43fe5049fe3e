// Cleanup for the benchmark: every child process, temp dir and connection is registered in a
// Scope and released last-in first-out when the scope closes — pass, fail or Ctrl-C.

/** Collects cleanups; `close()` runs them in reverse order, once. Child scopes close with their parent. */
export class Scope {
  private readonly cleanups: Array<() => unknown> = [];
  private closing: Promise<void> | undefined;
  /** every child process started under the root scope, for a last-resort kill on exit */
  readonly pids: Set<number>;

  constructor(parent?: Scope) {
    this.pids = parent ? parent.pids : new Set();
    parent?.defer(() => this.close());
  }

  defer(fn: () => unknown): void {
    if (this.closing) {
      // registered after close started (a late spawn): run it right away
      void Promise.resolve().then(fn).catch(() => undefined);
      return;
    }
    this.cleanups.push(fn);
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const fn of this.cleanups.splice(0).reverse()) {
        try {
          await fn();
        } catch (err) {
          process.stderr.write(`bench: cleanup failed: ${(err as Error).message}\n`);
        }
      }
    })();
    return this.closing;
  }
}

/** Run `body` in a child scope of `parent`, closed when `body` settles. */
export async function withScope<T>(parent: Scope, body: (scope: Scope) => Promise<T>): Promise<T> {
  const scope = new Scope(parent);
  try {
    return await body(scope);
  } finally {
    await scope.close();
  }
}
