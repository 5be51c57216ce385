/** The frames the ingest benchmark sends: realistic Alpaca JSON frames from the simulator's model, same for a seed. */
import { MarketModel } from '../edge-agent/simulator/market-model.ts';

export const INGEST_SYMBOLS = ['AAPL', 'MSFT', 'SPY', 'NVDA', 'AMZN', 'GOOG', 'META', 'TSLA', 'AMD', 'BTC/USD'];

export function ingestFrames(messageCount: number, messagesPerFrame = 200, seed = 11): string[] {
  const model = new MarketModel({ seed, symbols: INGEST_SYMBOLS, startNs: 1_719_878_400_000_000_000n });
  const frames: string[] = [];
  let untilNs = 1_719_878_400_000_000_000n;
  let sent = 0;
  while (sent < messageCount) {
    untilNs += 1_000_000_000n;
    const batch = model.advance(Math.min(messagesPerFrame, messageCount - sent), untilNs);
    // Bars come out on minute boundaries on top of the requested count; keep the total exact.
    const messages = batch.slice(0, messageCount - sent);
    frames.push(JSON.stringify(messages));
    sent += messages.length;
  }
  return frames;
}
