/**
 * Waiting for a condition on state that changes as events arrive (messages on a socket, closes): the owner calls
 * wake() after each change, and every pending until() re-checks its condition then, not on a polling timer.
 */
export class ConditionWaiter {
  private readonly wakers = new Set<() => void>();

  wake(): void {
    for (const waker of this.wakers) waker();
  }

  /** Resolves once `condition` holds; rejects after `timeoutMs` with the message `onTimeout` gives then. */
  async until(condition: () => boolean, timeoutMs: number, onTimeout: () => string): Promise<void> {
    if (condition()) return;
    await new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (!condition()) return;
        clearTimeout(timer);
        this.wakers.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.wakers.delete(check);
        reject(new Error(onTimeout()));
      }, timeoutMs);
      this.wakers.add(check);
    });
  }
}
