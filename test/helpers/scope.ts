// Teardown for test helpers that works in hooks too: ava 7 has no t.teardown() in before-hooks,
// so a file-wide Scope collects them and test.after.always(() => scope.run()) runs them.
export interface Teardown {
  teardown(fn: () => unknown): void;
}

/** Collects teardowns; `run()` calls them last-in first-out, pass or fail. */
export class Scope implements Teardown {
  private readonly fns: Array<() => unknown> = [];
  teardown(fn: () => unknown): void {
    this.fns.push(fn);
  }
  async run(): Promise<void> {
    for (const fn of this.fns.splice(0).reverse()) {
      try {
        await fn();
      } catch (err) {
        process.stderr.write(`teardown failed: ${(err as Error).message}\n`);
      }
    }
  }
}
