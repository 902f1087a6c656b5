import { closeSync, openSync, readSync, renameSync, statSync, watchFile, unwatchFile } from 'node:fs';

/** Keeps a log from growing without bound: moves it to FILE.1 (replacing the last one) when over `limit` bytes. */
export function rotateLog(file: string, limit: number): void {
  try {
    if (statSync(file).size > limit) renameSync(file, `${file}.1`);
  } catch {
    // no log yet
  }
}

/** The last `lines` lines of a log file (reads only the tail, however big the file is). */
export function tailLines(file: string, lines: number): string {
  let size: number;
  try {
    size = statSync(file).size;
  } catch {
    throw new Error(`no log yet at ${file} (the daemon has not been started)`);
  }
  const fd = openSync(file, 'r');
  try {
    let pos = size;
    let text = '';
    const chunk = 64 * 1024;
    while (pos > 0 && text.split('\n').length <= lines + 1) {
      const len = Math.min(chunk, pos);
      pos -= len;
      const buf = Buffer.alloc(len);
      readSync(fd, buf, 0, len, pos);
      text = buf.toString('utf8') + text;
    }
    const all = text.endsWith('\n') ? text.slice(0, -1).split('\n') : text.split('\n');
    return all.slice(-lines).join('\n') + (all.length ? '\n' : '');
  } finally {
    closeSync(fd);
  }
}

/**
 * Calls `onData` with whatever is appended to the file from now on (polling: works the same for
 * systemd's append:, launchd's StandardOutPath and the supervisor). A rotation starts over at 0.
 * Returns a function that stops following.
 */
export function followFile(file: string, onData: (text: string) => void, intervalMs = 250): () => void {
  let offset = (() => {
    try {
      return statSync(file).size;
    } catch {
      return 0;
    }
  })();
  const read = () => {
    let size: number;
    try {
      size = statSync(file).size;
    } catch {
      return;
    }
    if (size < offset) offset = 0;
    if (size === offset) return;
    const fd = openSync(file, 'r');
    try {
      const buf = Buffer.alloc(size - offset);
      readSync(fd, buf, 0, buf.length, offset);
      offset = size;
      onData(buf.toString('utf8'));
    } finally {
      closeSync(fd);
    }
  };
  watchFile(file, { interval: intervalMs, persistent: true }, read);
  return () => unwatchFile(file, read);
}
