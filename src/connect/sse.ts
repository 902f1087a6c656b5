import { StringDecoder } from 'node:string_decoder';

export interface SseEvent {
  /** The `event:` field; '' when the event had none (which means "message"). */
  event: string;
  data: string;
}

/**
 * Incremental text/event-stream parser: the parts of the WHATWG rules an MCP stream uses (`data:`
 * lines joined by newlines, `event:`, `:` comments, LF or CRLF line ends). `id:` and `retry:` are
 * read past: the daemons do not offer resumption, so the shim never sends Last-Event-ID.
 */
export class SseParser {
  private readonly decoder = new StringDecoder('utf8');
  private buffer = '';
  private data: string[] = [];
  private event = '';

  push(chunk: Buffer | string): SseEvent[] {
    this.buffer += typeof chunk === 'string' ? chunk : this.decoder.write(chunk);
    const events: SseEvent[] = [];
    let nl: number;
    while ((nl = this.buffer.indexOf('\n')) !== -1) {
      let line = this.buffer.slice(0, nl);
      this.buffer = this.buffer.slice(nl + 1);
      if (line.endsWith('\r')) line = line.slice(0, -1);
      if (line === '') {
        if (this.data.length) events.push({ event: this.event, data: this.data.join('\n') });
        this.data = [];
        this.event = '';
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'data') this.data.push(value);
      else if (field === 'event') this.event = value;
    }
    return events;
  }
}
