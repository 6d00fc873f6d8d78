// What bin.ts and the command modules under ./commands share: a command's streams and the
// shape of a command module. Its own module so the commands need not import bin.ts, which
// imports them.

export interface CommandIo {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

/** What a command module exports. */
export interface CommandModule {
  help: string;
  run(args: string[], io: CommandIo): Promise<number>;
}
