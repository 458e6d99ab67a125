/**
 * Runs the `quiver serve` command in a child process for the server tests (the CLI entry
 * wires the same command; this keeps the tests independent of that wiring).
 */
import { Command } from 'commander';
import { registerServeCommand } from '../../src/cli/serve-command.js';

const program = new Command('quiver').exitOverride();
registerServeCommand(program);
try {
  await program.parseAsync(process.argv);
} catch (e) {
  process.stderr.write(`quiver: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 3;
}
