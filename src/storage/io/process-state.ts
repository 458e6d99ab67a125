/**
 * Whether a process is a zombie: killed, but not yet reaped by its parent (common in
 * containers whose first process reaps nothing). Such a process still answers
 * `kill(pid, 0)` yet holds no files. Linux says so in /proc/<pid>/stat: the state letter
 * after the parenthesized command name is Z (or X while it goes).
 */
import { readFileSync } from 'node:fs';

export function isZombieProcess(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return false; // not Linux, or gone meanwhile
  }
  const state = stat.charAt(stat.lastIndexOf(')') + 2);
  return state === 'Z' || state === 'X';
}
