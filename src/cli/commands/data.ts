// Placeholder: the owner of this command replaces this module (see the issue that asks for it).
import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('data')
    .description('Data preparation (FlashRAG jsonl to Search-R1 parquet) (not built yet)')
    .action(() => {
      throw new Error('the "data" command is not built yet');
    });
}
