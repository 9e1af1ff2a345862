/**
 * Child processes (redis-server, kinesis-local, controller nodes) that must not outlive the process
 * that started them: a test that crashes before its `after` hook leaves no orphan behind. Only
 * `exit` is hooked: a SIGINT reaches the whole process group, children included, by itself.
 */
import type { ChildProcess } from 'node:child_process';

const running = new Set<ChildProcess>();
let exitHooked = false;

/** SIGKILLs `child` if it is still running when this process exits. */
export function killOnExit(child: ChildProcess): void {
  if (!exitHooked) {
    exitHooked = true;
    process.once('exit', () => {
      for (const orphan of running) orphan.kill('SIGKILL');
    });
  }
  running.add(child);
  child.once('exit', () => running.delete(child));
}
