import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/**
 * Which process listens on a local TCP port, so a diagnosis can name it ("port 8010 is held by
 * pid 4242: node …/mongodb-mcp-server") instead of leaving the person to run lsof. Linux reads
 * /proc/net/tcp{,6} and the processes' fd links; elsewhere one `lsof` call. Undefined when it
 * cannot tell (another user's process, no lsof): callers then simply say less.
 */
export interface PortOwner {
  pid: number;
  argv: string[];
}

export function portOwner(port: number): PortOwner | undefined {
  try {
    return process.platform === 'linux' ? linuxOwner(port) : lsofOwner(port);
  } catch {
    return undefined;
  }
}

function linuxOwner(port: number): PortOwner | undefined {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // local_address is HEX_IP:HEX_PORT; state 0A is LISTEN; field 9 is the socket's inode.
      if (f.length > 9 && f[3] === '0A' && parseInt(f[1].split(':')[1], 16) === port) inodes.add(f[9]);
    }
  }
  if (inodes.size === 0) return undefined;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${entry}/fd`);
    } catch {
      continue; // not ours to read, or gone
    }
    for (const fd of fds) {
      let link: string;
      try {
        link = readlinkSync(`/proc/${entry}/fd/${fd}`);
      } catch {
        continue;
      }
      const m = /^socket:\[(\d+)\]$/.exec(link);
      if (m && inodes.has(m[1])) {
        const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').filter(Boolean);
        return { pid: Number(entry), argv };
      }
    }
  }
  return undefined;
}

function lsofOwner(port: number): PortOwner | undefined {
  const out = execFileSync('lsof', ['-nP', `-iTCP:${port}`, '-sTCP:LISTEN', '-Fp'], { encoding: 'utf8', timeout: 3000 });
  const pid = Number(/^p(\d+)/m.exec(out)?.[1]);
  if (!pid) return undefined;
  const command = execFileSync('ps', ['-o', 'command=', '-p', String(pid)], { encoding: 'utf8', timeout: 3000 }).trim();
  return { pid, argv: command.split(' ') };
}
