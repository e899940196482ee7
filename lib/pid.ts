/**
 * True while a process with this pid exists. EPERM means it exists but
 * belongs to another user (an agent running as nobody, a service user), so it
 * counts as alive: a lock or spool owner must not be taken over from it.
 */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
