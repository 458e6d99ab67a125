#!/usr/bin/env node
/**
 * The `quiver` command line (SPEC section 5): a commander program with one file per
 * command. Exit codes: 0 ok, 1 problems found, 2 usage error, 3 runtime error.
 */
import { Command, CommanderError } from 'commander';
import { isQuiverError } from '../common/quiver-error.js';
import { registerClusterCommand } from './cluster-command.js';
import { registerCollectionsCommand } from './collections-command.js';
import { registerBackupCommand } from './backup-command.js';
import { registerCompactCommand } from './compact-command.js';
import { registerCreateCollectionCommand } from './create-collection-command.js';
import { registerDropCollectionCommand } from './drop-collection-command.js';
import { registerUpdateCollectionCommand } from './update-collection-command.js';
import { registerExportCommand } from './export-command.js';
import { registerImportCommand } from './import-command.js';
import { registerInfoCommand } from './info-command.js';
import { registerRepairCommand } from './repair-command.js';
import { registerStatsCommand } from './stats-command.js';
import { registerSyncCommand } from './sync-command.js';
import { registerDoctorCommand } from './doctor-command.js';
import { registerTuneCommand } from './tune-command.js';
import { registerVerifyCommand } from './verify-command.js';
import { registerWalCommand } from './wal-command.js';
import { cliErrorLine } from './cli-errors.js';
import { EXIT, packageVersion } from './cli-support.js';
import { registerServeCommand } from './serve-command.js';
import { isStdoutClosedError, stdoutClosed, watchStdout } from './stdout-pipe.js';

export function buildProgram(): Command {
  const program = new Command('quiver')
    .description('Quiver: a crash-safe vector database for TypeScript and Node.js.')
    .version(packageVersion(), '-V, --version')
    .showHelpAfterError()
    .exitOverride();
  registerServeCommand(program);
  registerCollectionsCommand(program);
  registerCreateCollectionCommand(program);
  registerDropCollectionCommand(program);
  registerUpdateCollectionCommand(program);
  registerInfoCommand(program);
  registerStatsCommand(program);
  registerVerifyCommand(program);
  registerRepairCommand(program);
  registerCompactCommand(program);
  registerBackupCommand(program);
  registerExportCommand(program);
  registerImportCommand(program);
  registerWalCommand(program);
  registerTuneCommand(program);
  registerSyncCommand(program);
  registerDoctorCommand(program);
  registerClusterCommand(program);
  return program;
}

/** The command's exit code; a reader closing stdout early (`| head`) is not an error. */
async function main(argv: string[]): Promise<number> {
  watchStdout();
  try {
    await buildProgram().parseAsync(argv);
    return process.exitCode === undefined ? EXIT.OK : Number(process.exitCode);
  } catch (e) {
    if (stdoutClosed() || isStdoutClosedError(e)) {
      return process.exitCode === undefined ? EXIT.OK : Number(process.exitCode);
    }
    if (e instanceof CommanderError) {
      return e.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    }
    process.stderr.write(`${cliErrorLine(e)}\n`);
    if (isQuiverError(e, 'INVALID_ARGUMENT')) return EXIT.USAGE;
    return EXIT.RUNTIME;
  }
}

process.exitCode = await main(process.argv);
