/** Where market data comes from: the Alpaca stream (or the simulator speaking its protocol), or a replayed file. */
import type { ParsedFrame } from './alpaca-messages.ts';

export interface FeedSource {
  /** Starts delivering frames to the callback given at construction; resolves once data can flow. */
  start(): Promise<void>;
  /** Stops; no frame is delivered after the returned promise resolves. */
  stop(): Promise<void>;
  /** Whether the source is currently delivering (connected and subscribed, or reading). */
  readonly connected: boolean;
}

export type FrameListener = (frame: ParsedFrame) => void;
