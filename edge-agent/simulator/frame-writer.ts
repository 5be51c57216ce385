/**
 * Gathers one client's data messages into frames of at most batchMax messages: JSON text built by concatenating each
 * message's JSON (computed once per message and shared by every JSON client), or one msgpack array.
 */

/** Sends one finished frame; `messages` is how many messages it holds. */
export type FrameSender = (payload: string | Uint8Array, messages: number) => void;

export class FrameWriter {
  private text = '';
  private objects: unknown[] = [];
  private count = 0;

  constructor(
    private readonly msgpack: ((value: unknown) => Uint8Array) | undefined,
    private readonly batchMax: number,
    private readonly send: FrameSender,
  ) {}

  /** Whether frames are msgpack; when so, `add` needs no JSON text. */
  get binary(): boolean {
    return this.msgpack !== undefined;
  }

  /** Adds a message: `json` is its JSON text (ignored for msgpack clients, which encode `message`). */
  add(message: unknown, json: string | undefined): void {
    if (this.msgpack !== undefined) this.objects.push(message);
    else this.text = this.count === 0 ? `[${json ?? JSON.stringify(message)}` : `${this.text},${json ?? JSON.stringify(message)}`;
    if (++this.count >= this.batchMax) this.flush();
  }

  /** Sends a frame of its own, after whatever was gathered so far. */
  raw(payload: string | Uint8Array, messages: number): void {
    this.flush();
    this.send(payload, messages);
  }

  flush(): void {
    if (this.count === 0) return;
    const count = this.count;
    if (this.msgpack !== undefined) {
      const objects = this.objects;
      this.objects = [];
      this.count = 0;
      this.send(this.msgpack(objects), count);
    } else {
      const text = `${this.text}]`;
      this.text = '';
      this.count = 0;
      this.send(text, count);
    }
  }
}
